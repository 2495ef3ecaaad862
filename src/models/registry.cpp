// The one table of model types. Adding a model = its file under src/models/ (a Config, the
// builders and an Entry function; CMake picks the file up) + its line in each list below + its
// golden fixture (dev/gen_golden.py, tests/models/test_golden.cpp).
#include <type_traits>

#include "models/common.h"

namespace ntn {
namespace models {
// Each model file's registry row.
Entry nhits_entry();
Entry nbeats_entry();
Entry mlp_entry();
Entry gru_entry();
Entry lstm_entry();
Entry lstm_attention_entry();
Entry deepar_entry();
Entry tcn_entry();
Entry transformer_entry();
Entry prophet_entry();
Entry ensemble_entry();
}  // namespace models

namespace {

const std::vector<models::Entry>& table() {
  static const std::vector<models::Entry> t = {
      models::nhits_entry(),
      models::nbeats_entry(),
      models::mlp_entry(),
      models::gru_entry(),
      models::lstm_entry(),
      models::lstm_attention_entry(),
      models::deepar_entry(),
      models::tcn_entry(),
      models::transformer_entry(),
      models::prophet_entry(),
      models::ensemble_entry(),
  };
  return t;
}

const models::Entry& find(const nlohmann::json& config) {
  NTN_CHECK(config.is_object(), "model config must be a JSON object (got ", config.dump().substr(0, 80), ")");
  const std::string type = json_string(config, "model config", "type", "");
  for (const auto& e : table())
    if (e.info.name == type) return e;
  throw Error(cat("unknown model type '", type, "': expected one of ", join(model_types())));
}

}  // namespace

template <class T>
std::unique_ptr<Model<T>> make_model(const nlohmann::json& config) {
  const models::Entry& e = find(config);
  if constexpr (std::is_same_v<T, float>)
    return e.build_float(config);
  else
    return e.build_double(config);
}

template std::unique_ptr<Model<float>> make_model<float>(const nlohmann::json&);
template std::unique_ptr<Model<double>> make_model<double>(const nlohmann::json&);

const std::vector<ModelInfo>& model_registry() {
  static const std::vector<ModelInfo> infos = [] {
    std::vector<ModelInfo> v;
    for (const auto& e : table()) v.push_back(e.info);
    return v;
  }();
  return infos;
}

template <class T>
void Model<T>::step(State&, const T*, T*, const nn::RunCtx&) const {
  throw Error(cat("model '", type(), "' does not stream (it carries no state between ticks)"));
}

template <class T>
void Model<T>::sample(const Batch<T>&, std::size_t, std::uint64_t, std::size_t, T*, const nn::RunCtx&) const {
  throw Error(cat("model '", type(), "' draws no sample paths of its own (its steps do not read earlier draws)"));
}

template class Model<float>;
template class Model<double>;

const ModelInfo& model_info(const std::string& type) {
  for (const ModelInfo& m : model_registry())
    if (m.name == type) return m;
  return find(nlohmann::json{{"type", type}}).info;  // throws: the error lists the known types
}

std::vector<std::string> model_types() {
  std::vector<std::string> v;
  for (const auto& i : model_registry()) v.push_back(i.name);
  return v;
}

}  // namespace ntn
