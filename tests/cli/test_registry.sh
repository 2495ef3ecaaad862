#!/usr/bin/env bash
# ntneural registry from the command line: a round trip (add with the signature of the recorded
# training data, list with every filter, show, search --like, tag, promote, rm, check, gc), and
# every bad input a one-line error (exit 2) that leaves the registry as it was.
# Usage: test_registry.sh path/to/ntneural
source "$(dirname "$0")/lib.sh" "$1"
make_ok_csv "$dir/ok.csv"
train=("$bin" train --data "$dir/ok.csv" --input-size 24 --horizon 6 --mlp-units 16x16 --max-steps 5 --batch 8 --quiet)
"${train[@]}" --columns price --out "$dir/a.ntn" > /dev/null
"${train[@]}" --columns price --seed 2 --out "$dir/b.ntn" > /dev/null
"$bin" train --data "$dir/ok.csv" --input-size 24 --horizon 6 --max-steps 5 --batch 8 --quiet --columns volume \
  --model mlp --out "$dir/c.ntn" > /dev/null
db="$dir/reg.db"
reg=("$bin" registry)
jq_py() { python3 -c "import json, sys; d = json.load(sys.stdin); $1"; }

# ---- round trip -------------------------------------------------------------------------------
check add_a "${reg[@]}" add "$db" "$dir/a.ntn" --name px --tag daily,test --metric val_loss=0.5 --metric mae=2
check add_b "${reg[@]}" add "$db" "$dir/b.ntn" --name px --tag daily --metric val_loss=0.3 --stage production
check add_c "${reg[@]}" add "$db" "$dir/c.ntn" --name vol --metric val_loss=0.9 --season 7
check add_signature_from_recorded_data sh -c "'$bin' registry show '$db' px@1 | grep -q '\"fingerprint\"'"
check list_all test "$("${reg[@]}" list "$db" --json | jq_py 'print(len(d))')" = 3
check list_type test "$("${reg[@]}" list "$db" --type mlp --json | jq_py 'print(d[0]["name"], len(d))')" = "vol 1"
check list_tag_all test "$("${reg[@]}" list "$db" --tag-all daily,test --json | jq_py 'print(d[0]["version"], len(d))')" = "1 1"
check list_tag_any test "$("${reg[@]}" list "$db" --tag-any test,none --json | jq_py 'print(len(d))')" = 1
check list_metric test "$("${reg[@]}" list "$db" --metric 'val_loss<=0.5' --json | jq_py 'print(len(d))')" = 2
check list_metric_range test "$("${reg[@]}" list "$db" --metric 'val_loss>=0.4' --metric 'val_loss<=0.6' --json | jq_py 'print(len(d))')" = 1
check list_config test "$("${reg[@]}" list "$db" --config model.input_size=24 --config 'model.type="nhits"' --json | jq_py 'print(len(d))')" = 2
check list_created test "$("${reg[@]}" list "$db" --created-after 2000-01-01 --created-before 2001-01-01 --json | jq_py 'print(len(d))')" = 0
check list_stage test "$("${reg[@]}" list "$db" --stage production --json | jq_py 'print(d[0]["version"])')" = 2
check list_limit test "$("${reg[@]}" list "$db" --limit 1 --json | jq_py 'print(d[0]["name"])')" = vol
check list_table sh -c "'$bin' registry list '$db' | grep -q '^px '"
check show_best test "$("$bin" registry show "$db" px@best | jq_py 'print(d["version"])')" = 2
check show_best_mae test "$("$bin" registry show "$db" px@best:mae | jq_py 'print(d["version"])')" = 1
check show_production test "$("$bin" registry show "$db" px@production | jq_py 'print(d["version"])')" = 2
uuid=$("$bin" registry show "$db" px@1 | jq_py 'print(d["uuid"])')
check show_uuid test "$("$bin" registry show "$db" "$uuid" | jq_py 'print(d["name"], d["version"])')" = "px 1"
check artifact_is_loadable sh -c "'$bin' predict --model \"\$('$bin' registry show '$db' px@1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"artifact\"])')\" --data '$dir/ok.csv' --columns price | grep -q price"
check search_like test "$("${reg[@]}" search "$db" --like "$dir/ok.csv" --columns volume --season 7 --k 1 --json | jq_py 'print(d["results"][0]["name"])')" = vol
check search_like_filtered test "$("${reg[@]}" search "$db" --like "$dir/ok.csv" --columns volume --k 3 --type nhits --json | jq_py 'print(len(d["results"]), d["results"][0]["name"])')" = "2 px"
check search_repeat sh -c "'$bin' registry search '$db' --like '$dir/ok.csv' --k 2 --repeat 3 --json | grep -q warm_search_median_ms"
check tag_add "${reg[@]}" tag "$db" px@1 --add keep --remove test
check tag_result test "$("$bin" registry show "$db" px@1 | jq_py 'print(",".join(d["tags"]))')" = "daily,keep"
check promote "${reg[@]}" promote "$db" px@1 --stage production
check promote_moves test "$("$bin" registry show "$db" px@2 | jq_py 'print(d["stage"])')" = archived
check check_ok "${reg[@]}" check "$db"
check rm "${reg[@]}" rm "$db" vol
check rm_gone test "$("${reg[@]}" list "$db" --json | jq_py 'print(len(d))')" = 2
check gc test "$("${reg[@]}" gc "$db" --json | jq_py 'print(d["objects_removed"])')" = 1
check gc_again test "$("${reg[@]}" gc "$db" --json | jq_py 'print(d["objects_removed"])')" = 0
# check exits 1 naming a damaged artifact.
obj=$("$bin" registry show "$db" px@2 | jq_py 'print(d["artifact"])')
cp "$obj" "$dir/obj.bak"
printf 'X' | dd of="$obj" bs=1 seek=200 conv=notrunc status=none
check check_finds_damage sh -c "'$bin' registry check '$db' > '$dir/check.txt'; [ \$? -eq 1 ] && grep -q 'px@2' '$dir/check.txt' && grep -q sha256 '$dir/check.txt'"
cp "$dir/obj.bak" "$obj"
check check_ok_again "${reg[@]}" check "$db"

# ---- export / import ---------------------------------------------------------------------------
check export_px "${reg[@]}" export "$db" "$dir/px.db" --name px
check export_has_px test "$("${reg[@]}" list "$dir/px.db" --json | jq_py 'print(sorted((r["name"], r["version"], r["stage"]) for r in d))')" = "[('px', 1, 'production'), ('px', 2, 'archived')]"
check export_check "${reg[@]}" check "$dir/px.db"
check import_into_new "${reg[@]}" import "$dir/copy.db" "$dir/px.db"
check import_same_records test "$("${reg[@]}" list "$dir/copy.db" --json | jq_py 'print(sorted((r["uuid"], r["version"], r["tags"], r["metrics"]["val_loss"]) for r in d))')" = "$("${reg[@]}" list "$dir/px.db" --json | jq_py 'print(sorted((r["uuid"], r["version"], r["tags"], r["metrics"]["val_loss"]) for r in d))')"
check import_again_skips test "$("${reg[@]}" import "$dir/copy.db" "$dir/px.db" --json | jq_py 'print(d["imported"], d["skipped"])')" = "0 2"
"${train[@]}" --columns price --seed 9 --out "$dir/other.ntn" > /dev/null
"${reg[@]}" add "$dir/other.db" "$dir/other.ntn" --name px > /dev/null
check import_renumbers test "$("${reg[@]}" import "$dir/copy.db" "$dir/other.db" --json | jq_py 'print(d["imported"], d["renumbered"])')" = "1 1"
check import_renumbered_is_3 test "$("$bin" registry show "$dir/copy.db" px@3 | jq_py 'print(d["uuid"] == "'"$("$bin" registry show "$dir/other.db" px@1 | jq_py 'print(d["uuid"])')"'")')" = True

# ---- train --register and --model registry:DB:REF ---------------------------------------------
check train_register "${train[@]}" --columns price --seed 3 --out "$dir/px3.ntn" --register "$db"
check train_register_named "${train[@]}" --columns price --seed 4 --out "$dir/d.ntn" --register "$db:px"
check train_registered_as_stem test "$("${reg[@]}" list "$db" --name px3 --json | jq_py 'print(len(d), "val_loss" in d[0]["metrics"], "test_mae" in d[0]["metrics"], len(d[0]["signature"]))')" = "1 True True 13"
check train_registered_next_version test "$("$bin" registry show "$db" px | jq_py 'print(d["version"])')" = 3
check predict_from_registry sh -c "'$bin' predict --model 'registry:$db:px@3' --data '$dir/ok.csv' --columns price > '$dir/r.csv' && '$bin' predict --model '$dir/d.ntn' --data '$dir/ok.csv' --columns price > '$dir/f.csv' && cmp -s '$dir/r.csv' '$dir/f.csv'"
check evaluate_from_registry sh -c "'$bin' evaluate --model 'registry:$db:px@best' --data '$dir/ok.csv' --columns price --json | grep -q mae"
check backtest_from_registry sh -c "'$bin' backtest --model 'registry:$db:px@1,registry:$db:px3' --data '$dir/ok.csv' --columns price --origins 5 --json | grep -q mae"
check quantize_from_registry "$bin" quantize --model "registry:$db:px@production" --out "$dir/q.ntn"
check bench_predict_from_registry "$bin" bench predict --model "registry:$db:px3" --json --serve 10

# ---- checkpoints: train --checkpoint --register stores it, train --init-from continues it ------
ft=("$bin" train --data "$dir/ok.csv" --columns price --input-size 24 --horizon 6 --mlp-units 16x16 --batch 8 --quiet)
check train_register_checkpoint "${ft[@]}" --max-steps 5 --out "$dir/ft1.ntn" --checkpoint "$dir/ft1.ckpt" --register "$db:ft"
check registered_checkpoint test "$("$bin" registry show "$db" ft | jq_py 'print(len(d["checkpoint_sha256"]), d["checkpoint_size"] > 0, d["checkpoint"].endswith(".ckpt"))')" = "64 True True"
# To the same step budget: no step more, so the weights are exactly the registered model's.
check init_from_same_budget sh -c "'${ft[0]}' ${ft[*]:1} --max-steps 5 --out '$dir/ft1b.ntn' --init-from 'registry:$db:ft' && '$bin' predict --model '$dir/ft1b.ntn' --data '$dir/ok.csv' --columns price > '$dir/p1b.csv' && '$bin' predict --model '$dir/ft1.ntn' --data '$dir/ok.csv' --columns price > '$dir/p1.csv' && cmp -s '$dir/p1.csv' '$dir/p1b.csv'"
# Further: the new model is registered as a child of the one it continued, with its own checkpoint.
check init_from_longer "${ft[@]}" --max-steps 9 --out "$dir/ft2.ntn" --checkpoint "$dir/ft2.ckpt" --init-from "registry:$db:ft@1" --register "$db:ft" --json
check init_from_parent test "$("$bin" registry show "$db" ft@2 | jq_py 'print(d["parent"])')" = "$("$bin" registry show "$db" ft@1 | jq_py 'print(d["uuid"])')"
check init_from_children test "$("${reg[@]}" list "$db" --parent "$("$bin" registry show "$db" ft@1 | jq_py 'print(d["uuid"])')" --json | jq_py 'print(len(d), d[0]["version"])')" = "1 2"
check init_from_new_checkpoint test "$("$bin" registry show "$db" ft@2 | jq_py 'print(d["checkpoint_sha256"] != "")')" = True
# A checkpoint file works as well (what a resumed run left), and registry add takes one.
check init_from_file "${ft[@]}" --max-steps 9 --out "$dir/ft3.ntn" --init-from "$dir/ft1.ckpt"
check init_from_file_equals sh -c "'$bin' predict --model '$dir/ft3.ntn' --data '$dir/ok.csv' --columns price > '$dir/p3.csv' && '$bin' predict --model '$dir/ft2.ntn' --data '$dir/ok.csv' --columns price > '$dir/p2.csv' && cmp -s '$dir/p2.csv' '$dir/p3.csv'"
# Continued from one registry into another: registered there without a parent (a note says so).
check init_from_other_registry sh -c "'${ft[0]}' ${ft[*]:1} --max-steps 9 --out '$dir/ft4.ntn' --init-from 'registry:$db:ft@1' --register '$dir/second.db:ft' 2> '$dir/note.txt' && grep -q 'registered without a parent' '$dir/note.txt'"
check other_registry_no_parent test "$("$bin" registry show "$dir/second.db" ft | jq_py 'print(repr(d["parent"]))')" = "''"
check add_with_checkpoint test "$("${reg[@]}" add "$db" "$dir/ft3.ntn" --name ft --checkpoint "$dir/ft1.ckpt" --json | jq_py 'print(d["version"], d["checkpoint"])')" = "3 True"
check check_with_checkpoints "${reg[@]}" check "$db"
ck=$("$bin" registry show "$db" ft@2 | jq_py 'print(d["checkpoint"])')
cp "$ck" "$dir/ck.bak"
printf 'X' | dd of="$ck" bs=1 seek=300 conv=notrunc status=none
check check_finds_damaged_checkpoint sh -c "'$bin' registry check '$db' > '$dir/check2.txt'; [ \$? -eq 1 ] && grep -q 'ft@2' '$dir/check2.txt' && grep -q checkpoint '$dir/check2.txt'"
cp "$dir/ck.bak" "$ck"

# ---- bad input: one line, exit 2, the registry unchanged ---------------------------------------
listing() { "${reg[@]}" list "$db" --json | jq_py 'print(sorted((r["name"], r["version"], r["stage"], r["tags"]) for r in d))'; }
before=$(listing)
printf 'not a model' > "$dir/junk.ntn"
printf 'a,b\n1,2\n' > "$dir/text.db"
printf 't,x\n1,1\n2,2\n' > "$dir/short.csv"
prefix=("${reg[@]}")
error_table <<EOF
add_to_text_file      | not an ntneural registry (not an SQLite database) | add "$dir/text.db" "$dir/c.ntn" --name x
add_junk_model        | junk.ntn                     | add "$db" "$dir/junk.ntn" --name x
add_missing_model     | missing.ntn                  | add "$db" "$dir/missing.ntn" --name x
add_same_model_again  | already holds model          | add "$db" "$dir/a.ntn" --name again
add_bad_name          | model name 'a b' must be     | add "$db" "$dir/c.ntn" --name "a b"
add_uuid_name         | looks like a uuid            | add "$db" "$dir/c.ntn" --name "$uuid"
add_bad_tag           | tag 'x;y'                    | add "$db" "$dir/c.ntn" --name x --tag "x;y"
add_metric_text       | --metric                     | add "$db" "$dir/c.ntn" --name x --metric mae=low
add_metric_nan        | --metric                     | add "$db" "$dir/c.ntn" --name x --metric mae=nan
add_metric_no_value   | expected NAME<=X             | add "$db" "$dir/c.ntn" --name x --metric mae
add_metric_range      | expected NAME=X              | add "$db" "$dir/c.ntn" --name x --metric "mae<=1"
add_bad_stage         | stage 'prod'                 | add "$db" "$dir/c.ntn" --name x --stage prod
add_parent_unknown    | is not in registry           | add "$db" "$dir/c.ntn" --name x --parent 00000000-0000-0000-0000-000000000000
add_data_too_short    | too short                    | add "$db" "$dir/c.ntn" --name x --data "$dir/short.csv"
add_data_missing      | missing.csv                  | add "$db" "$dir/c.ntn" --name x --data "$dir/missing.csv"
add_season_huge       | --season                     | add "$db" "$dir/c.ntn" --name x --season 99999999
list_missing_db       | does not exist               | list "$dir/missing.db"
list_version_alone    | --version needs --name       | list "$db" --version 1
list_version_negative | --version                    | list "$db" --name px --version -1
list_bad_metric       | expected NAME<=X             | list "$db" --metric "mae~1"
list_bad_metric_value | --metric                     | list "$db" --metric "mae<=1e999"
list_bad_config       | must start with model. or train. | list "$db" --config input_size=24
list_bad_stage        | stage 'live'                 | list "$db" --stage live
list_empty_tag_item   | --tag-any                    | list "$db" --tag-any "a,,b"
show_unknown          | has no model 'nope'          | show "$db" nope
show_unknown_version  | versions of 'px': 1, 2       | show "$db" px@9
show_bad_selector     | after '@' expected           | show "$db" px@soon
search_missing_like   | missing.csv                  | search "$db" --like "$dir/missing.csv"
search_k_zero         | --k                          | search "$db" --like "$dir/ok.csv" --k 0
search_bad_similarity | unknown similarity 'manhattan' | search "$db" --like "$dir/ok.csv" --similarity manhattan
tag_nothing           | give --add and / or --remove | tag "$db" px@1
promote_bad_stage     | stage 'live'                 | promote "$db" px@1 --stage live
rm_unknown            | has no model 'nope'          | rm "$db" nope
gc_text_file          | not an ntneural registry     | gc "$dir/text.db"
export_exists         | exists; export writes a new registry | export "$db" "$dir/px.db"
export_onto_text      | exists; export writes a new registry | export "$db" "$dir/text.db"
import_itself         | is this registry             | import "$db" "$db"
import_missing        | does not exist               | import "$db" "$dir/missing.db"
import_text           | not an ntneural registry     | import "$db" "$dir/text.db"
EOF
prefix=("$bin")
error_table <<EOF
predict_ref_unknown   | has no model 'nope'          | predict --model "registry:$db:nope" --data "$dir/ok.csv"
predict_ref_no_name   | expected registry:DB:NAME    | predict --model "registry:$db" --data "$dir/ok.csv"
predict_ref_no_db     | does not exist               | predict --model "registry:$dir/none.db:px" --data "$dir/ok.csv"
evaluate_ref_version  | versions of 'px'             | evaluate --model "registry:$db:px@42" --data "$dir/ok.csv"
backtest_ref_stage    | has no model 'px@staging'    | backtest --model "registry:$db:px@staging" --data "$dir/ok.csv"
train_register_name   | model name 'bad name'        | train --data "$dir/ok.csv" --max-steps 2 --out "$dir/never.ntn" --register "$db:bad name"
train_register_text   | not an ntneural registry     | train --data "$dir/ok.csv" --max-steps 2 --out "$dir/never.ntn" --register "$dir/text.db"
train_register_series | not with --per-series        | train --data "$dir/ok.csv" --max-steps 2 --per-series --out "$dir/never" --register "$db"
init_from_no_ckpt     | px3@1 was registered without a training checkpoint | train --data "$dir/ok.csv" --columns price --max-steps 9 --out "$dir/never.ntn" --init-from "registry:$db:px3"
init_from_unknown     | has no model 'nope'          | train --data "$dir/ok.csv" --max-steps 9 --out "$dir/never.ntn" --init-from "registry:$db:nope"
init_from_missing     | missing.ckpt                 | train --data "$dir/ok.csv" --max-steps 9 --out "$dir/never.ntn" --init-from "$dir/missing.ckpt"
init_from_not_ckpt    | not an ntneural checkpoint   | train --data "$dir/ok.csv" --columns price --input-size 24 --horizon 6 --mlp-units 16x16 --batch 8 --max-steps 9 --out "$dir/never.ntn" --init-from "$dir/ft1.ntn"
init_from_other_model | the checkpoint is of another model | train --data "$dir/ok.csv" --columns price --input-size 32 --horizon 6 --mlp-units 16x16 --batch 8 --max-steps 9 --out "$dir/never.ntn" --init-from "registry:$db:ft"
init_from_other_train | trained with another configuration | train --data "$dir/ok.csv" --columns price --input-size 24 --horizon 6 --mlp-units 16x16 --batch 16 --max-steps 9 --out "$dir/never.ntn" --init-from "registry:$db:ft"
init_from_per_series  | --init-from continues one model | train --data "$dir/ok.csv" --max-steps 9 --per-series --out "$dir/never" --init-from "registry:$db:ft"
init_from_overwrite   | is the same file as --init-from | train --data "$dir/ok.csv" --columns price --max-steps 9 --out "$dir/never.ntn" --init-from "registry:$db:ft@2" --checkpoint "$ck"
add_ckpt_other_model  | is of another model          | registry add "$db" "$dir/c.ntn" --name x --checkpoint "$dir/ft1.ckpt"
add_ckpt_not_ckpt     | not an ntneural training checkpoint | registry add "$db" "$dir/c.ntn" --name x --checkpoint "$dir/a.ntn"
EOF
check train_register_failure_writes_nothing test ! -e "$dir/never.ntn" -a ! -e "$dir/never"
check registry_unchanged test "$(listing)" = "$before"
check registered_checkpoint_untouched "${reg[@]}" check "$db"
check no_registry_made_for_missing test ! -e "$dir/missing.db"
check text_file_untouched test "$(cat "$dir/text.db")" = "$(printf 'a,b\n1,2')"
finish
