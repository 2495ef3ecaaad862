"""PyTorch re-implementations of ntneural's models, for side-by-side benchmarks and golden
fixtures only (never a runtime dependency). They follow the NHITS / N-BEATS authors' library
(neuralforecast): the block MLP is Linear(in, u0) without activation, then (Linear + act) per
pair, then Linear to theta; the input is flipped into the residual and the forecast starts at
the last input value. Parameter names are ntneural's ("stacks.S.blocks.J.mlp.I.weight").

Run with Debian's /usr/bin/python3 (python3-torch + libopenblas0-openmp).
"""
import math
import resource

import torch
import torch.nn as nn
import torch.nn.functional as F


class BlockMLP(nn.Module):
    def __init__(self, n_in, units, n_theta, act=nn.ReLU):
        super().__init__()
        layers = [nn.Linear(n_in, units[0][0])]
        for a, b in units:
            layers += [nn.Linear(a, b), act()]
        layers.append(nn.Linear(units[-1][1], n_theta))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


class NHITS(nn.Module):
    """input_size L, horizon H, Q outputs per step; one block per stack by default."""

    def __init__(self, L=168, H=24, units=((512, 512),), n_blocks=(1, 1, 1), pool=(2, 2, 1),
                 freq_downsample=(4, 2, 1), Q=1, pooling="max", interpolation="linear"):
        super().__init__()
        self.L, self.H, self.Q = L, H, Q
        self.interpolation = interpolation
        self.blocks = nn.ModuleList()
        self.meta = []
        for s, nb in enumerate(n_blocks):
            for _ in range(nb):
                knots = max(H // freq_downsample[s], 1)
                pooled = math.ceil(L / pool[s])
                self.blocks.append(BlockMLP(pooled, units, L + Q * knots))
                pool_layer = (nn.MaxPool1d if pooling == "max" else nn.AvgPool1d)(
                    kernel_size=pool[s], stride=pool[s], ceil_mode=True)
                self.meta.append((s, pool_layer, knots))

    def ntn_names(self):
        """ntneural's name for each torch parameter."""
        names = {}
        for j, blk in enumerate(self.blocks):
            s = self.meta[j][0]
            linear = [m for m in blk.layers if isinstance(m, nn.Linear)]
            for i, lin in enumerate(linear):
                names[f"stacks.{s}.blocks.{j}.mlp.{i}.weight"] = lin.weight
                names[f"stacks.{s}.blocks.{j}.mlp.{i}.bias"] = lin.bias
        return names

    def forward(self, x):  # x (B, L) -> (B, H, Q)
        resid = x.flip(dims=(-1,))
        forecast = x[:, -1:, None].repeat(1, self.H, self.Q)
        for blk, (_, pool_layer, knots) in zip(self.blocks, self.meta):
            pooled = pool_layer(resid.unsqueeze(1)).squeeze(1)
            theta = blk(pooled)
            backcast = theta[:, : self.L]
            k = theta[:, self.L:].reshape(len(theta), self.Q, knots)
            f = F.interpolate(k, size=self.H, mode=self.interpolation)  # (B, Q, H)
            resid = resid - backcast
            forecast = forecast + f.permute(0, 2, 1)
        return forecast


def rnn_names(names, rnn, prefix, layers, bidirectional=False):
    """ntneural's names of a torch.nn.GRU / LSTM's weights: <prefix>.l<l>[_reverse].{ih,hh}.{weight,bias}."""
    for l in range(layers):
        for sfx in ("", "_reverse") if bidirectional else ("",):
            for kind in ("ih", "hh"):
                names[f"{prefix}.l{l}{sfx}.{kind}.weight"] = getattr(rnn, f"weight_{kind}_l{l}{sfx}")
                names[f"{prefix}.l{l}{sfx}.{kind}.bias"] = getattr(rnn, f"bias_{kind}_l{l}{sfx}")
    return names


class RecurrentForecaster(nn.Module):
    """ntneural's gru / lstm: a stacked encoder over the window (one input channel), then an MLP
    decoder (Linear + ReLU per hidden layer, then Linear) from the last hidden state to H x Q."""

    def __init__(self, cell="lstm", L=168, H=24, hidden=128, layers=2, dec_hidden=128, dec_layers=2, Q=1):
        super().__init__()
        self.L, self.H, self.Q, self.layers = L, H, Q, layers
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(1, hidden, layers, batch_first=True)
        dims = [hidden] + [dec_hidden] * dec_layers + [H * Q]
        mods = []
        for i in range(len(dims) - 1):
            mods.append(nn.Linear(dims[i], dims[i + 1]))
            if i + 2 < len(dims):
                mods.append(nn.ReLU())
        self.decoder = nn.Sequential(*mods)

    def ntn_names(self):
        names = rnn_names({}, self.rnn, "encoder", self.layers)
        linear = [m for m in self.decoder if isinstance(m, nn.Linear)]
        for i, lin in enumerate(linear):
            names[f"decoder.{i}.weight"] = lin.weight
            names[f"decoder.{i}.bias"] = lin.bias
        return names

    def forward(self, x):  # x (B, L) -> (B, H, Q)
        out, _ = self.rnn(x.unsqueeze(-1))
        return self.decoder(out[:, -1]).reshape(-1, self.H, self.Q)


class LstmAttention(nn.Module):
    """ntneural's lstm_attention at inference (every decoder step fed its own previous forecast,
    the middle output): a bidirectional stacked LSTM encoder over the window, an LSTM decoder
    (input: the previous value and the encoder's summary - forward h at L - 1, backward h at 0)
    whose state queries multi-head attention over the encoder states (separate q / k / v / out
    Linears, scores / sqrt(d_head), softmax: nn.MultiheadAttention's equations, written out so
    each projection keeps its own name), and the head Linear([state | context]) + tanh, Linear."""

    def __init__(self, L=12, H=4, enc_hidden=4, enc_layers=1, dec_hidden=6, dec_layers=1, heads=2, Q=1):
        super().__init__()
        self.L, self.H, self.Q, self.heads = L, H, Q, heads
        self.enc_layers, self.dec_layers = enc_layers, dec_layers
        E2 = 2 * enc_hidden
        self.enc = nn.LSTM(1, enc_hidden, enc_layers, batch_first=True, bidirectional=True)
        self.E = enc_hidden
        self.dec = nn.LSTM(1 + E2, dec_hidden, dec_layers, batch_first=True)
        self.q, self.k = nn.Linear(dec_hidden, dec_hidden), nn.Linear(E2, dec_hidden)
        self.v, self.out = nn.Linear(E2, dec_hidden), nn.Linear(dec_hidden, dec_hidden)
        self.head0, self.head1 = nn.Linear(2 * dec_hidden, dec_hidden), nn.Linear(dec_hidden, Q)

    def ntn_names(self):
        names = rnn_names({}, self.enc, "encoder", self.enc_layers, bidirectional=True)
        rnn_names(names, self.dec, "decoder", self.dec_layers)
        for n in ("q", "k", "v", "out"):
            names[f"attention.{n}.weight"] = getattr(self, n).weight
            names[f"attention.{n}.bias"] = getattr(self, n).bias
        for i, lin in enumerate((self.head0, self.head1)):
            names[f"head.{i}.weight"] = lin.weight
            names[f"head.{i}.bias"] = lin.bias
        return names

    def forward(self, x):  # x (B, L) -> (B, H, Q)
        B, nh = x.shape[0], self.heads
        enc, _ = self.enc(x.unsqueeze(-1))                        # (B, L, 2E)
        k, v = self.k(enc), self.v(enc)                           # (B, L, Hd)
        Hd = k.shape[-1]
        dh = Hd // nh
        k = k.view(B, -1, nh, dh).transpose(1, 2)                 # (B, nh, L, dh)
        v = v.view(B, -1, nh, dh).transpose(1, 2)
        E = self.E                                                # the decoder's summary of the window:
        summary = torch.cat([enc[:, -1, :E], enc[:, 0, E:]], -1)  # forward h at L - 1, backward h at 0
        prev, state, outs = x[:, -1], None, []
        for _ in range(self.H):
            s, state = self.dec(torch.cat([prev.view(B, 1, 1), summary.view(B, 1, -1)], -1), state)  # (B, 1, Hd)
            q = self.q(s[:, 0]).view(B, nh, 1, dh)
            p = torch.softmax(q @ k.transpose(-1, -2) / dh ** 0.5, -1)
            ctx = self.out((p @ v).reshape(B, Hd))
            y = self.head1(torch.tanh(self.head0(torch.cat([s[:, 0], ctx], -1))))
            outs.append(y)
            prev = y[:, self.Q // 2]
        return torch.stack(outs, 1)


class TCN(nn.Module):
    """ntneural's tcn: residual blocks (block i dilates by base^i) of two causal dilated Conv1d
    (zero padding on the left only, F.pad), each followed by ReLU; the residual is x, or a 1x1
    Conv1d where the channel count changes; y = ReLU(h2 + res). Then an MLP decoder (Linear + ReLU
    per hidden layer, then Linear) from the last column of the last block to H x Q. Computes every
    column of every block (what a user of torch writes); ntneural computes the receptive field only.
    ntneural stores each conv weight (out, in, K) as (out, K * in), k-major: ntn_tensor converts."""

    def __init__(self, L=168, H=24, channels=(64, 128, 128), kernel=3, base=2, dec_hidden=128, dec_layers=0, Q=1):
        super().__init__()
        self.L, self.H, self.Q, self.K = L, H, Q, kernel
        self.dil = [base ** i for i in range(len(channels))]
        self.conv1, self.conv2, self.down = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        cin = 1
        for i, c in enumerate(channels):
            self.conv1.append(nn.Conv1d(cin, c, kernel, dilation=self.dil[i]))
            self.conv2.append(nn.Conv1d(c, c, kernel, dilation=self.dil[i]))
            self.down.append(nn.Conv1d(cin, c, 1) if cin != c else nn.Identity())
            cin = c
        dims = [cin] + [dec_hidden] * dec_layers + [H * Q]
        mods = []
        for i in range(len(dims) - 1):
            mods.append(nn.Linear(dims[i], dims[i + 1]))
            if i + 2 < len(dims):
                mods.append(nn.ReLU())
        self.decoder = nn.Sequential(*mods)

    def ntn_names(self):
        names = {}
        for i in range(len(self.conv1)):
            for kind in ("conv1", "conv2", "down"):
                m = getattr(self, kind)[i]
                if isinstance(m, nn.Conv1d):
                    names[f"blocks.{i}.{kind}.weight"] = m.weight
                    names[f"blocks.{i}.{kind}.bias"] = m.bias
        linear = [m for m in self.decoder if isinstance(m, nn.Linear)]
        for i, lin in enumerate(linear):
            names[f"decoder.{i}.weight"] = lin.weight
            names[f"decoder.{i}.bias"] = lin.bias
        return names

    @staticmethod
    def ntn_tensor(t):
        """A tensor in ntneural's layout: conv weights (out, in, K) -> (out, K * in)."""
        return t.permute(0, 2, 1).reshape(t.shape[0], -1) if t.dim() == 3 else t

    def forward(self, x):  # x (B, L) -> (B, H, Q)
        h = x.unsqueeze(1)  # (B, 1, L): channels first
        for c1, c2, down, d in zip(self.conv1, self.conv2, self.down, self.dil):
            pad = (self.K - 1) * d
            a = torch.relu(c1(F.pad(h, (pad, 0))))
            a = torch.relu(c2(F.pad(a, (pad, 0))))
            h = torch.relu(a + down(h))
        return self.decoder(h[:, :, -1]).reshape(-1, self.H, self.Q)


class Transformer(nn.Module):
    """ntneural's transformer: Linear embeddings of the window's values (encoder) and of the
    label_len last values + H zeros (decoder), sinusoidal positions (the decoder's continue from
    L - label_len), torch's nn.TransformerEncoderLayer / DecoderLayer (batch_first; causal decoder
    self-attention), final LayerNorms, Linear(d_model -> Q) on the horizon tokens. ntn_names
    splits each in_proj into ntneural's q / k / v: (parameter, row slice) pairs."""

    def __init__(self, L=96, H=24, E=64, heads=4, enc_layers=2, dec_layers=2, F=256, label_len=0, act="gelu",
                 norm_first=False, causal=True, dropout=0.0, Q=1):
        super().__init__()
        self.L, self.H, self.Q, self.label_len, self.causal = L, H, Q, label_len, causal
        self.enc_emb, self.dec_emb = nn.Linear(1, E), nn.Linear(1, E)
        kw = dict(dim_feedforward=F, dropout=dropout, activation=act, batch_first=True, norm_first=norm_first)
        self.enc = nn.ModuleList([nn.TransformerEncoderLayer(E, heads, **kw) for _ in range(enc_layers)])
        self.dec = nn.ModuleList([nn.TransformerDecoderLayer(E, heads, **kw) for _ in range(dec_layers)])
        self.enc_norm, self.dec_norm = nn.LayerNorm(E), nn.LayerNorm(E)
        self.proj = nn.Linear(E, Q)
        pos = torch.arange(L + H, dtype=torch.float64)[:, None]
        div = torch.pow(10000.0, torch.arange(0, E, 2, dtype=torch.float64) / E)
        pe = torch.zeros(L + H, E, dtype=torch.float64)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(pos / div), torch.cos(pos / div)
        self.register_buffer("pe", pe.float())
        D = label_len + H
        self.register_buffer("mask", torch.triu(torch.full((D, D), float("-inf")), diagonal=1))

    def ntn_names(self):
        names = {}

        def attention(prefix, m):
            E = m.embed_dim
            for i, x in enumerate(("q", "k", "v")):
                names[f"{prefix}.{x}.weight"] = (m.in_proj_weight, slice(i * E, (i + 1) * E))
                names[f"{prefix}.{x}.bias"] = (m.in_proj_bias, slice(i * E, (i + 1) * E))
            names[f"{prefix}.out.weight"], names[f"{prefix}.out.bias"] = m.out_proj.weight, m.out_proj.bias

        def lin(name, m):
            names[f"{name}.weight"], names[f"{name}.bias"] = m.weight, m.bias
        lin("encoder_embedding", self.enc_emb)
        lin("decoder_embedding", self.dec_emb)
        for side, layers in (("encoder", self.enc), ("decoder", self.dec)):
            for i, l in enumerate(layers):
                p = f"{side}.layers.{i}"
                attention(p + ".self_attn", l.self_attn)
                if side == "decoder":
                    attention(p + ".cross_attn", l.multihead_attn)
                lin(p + ".ffn.0", l.linear1)
                lin(p + ".ffn.1", l.linear2)
                for k, n in enumerate((l.norm1, l.norm2) + ((l.norm3,) if side == "decoder" else ())):
                    lin(f"{p}.norm{k + 1}", n)
        lin("encoder.norm", self.enc_norm)
        lin("decoder.norm", self.dec_norm)
        lin("projection", self.proj)
        return names

    def forward(self, x):  # x (B, L) -> (B, H, Q)
        B, L, lab = x.shape[0], self.L, self.label_len
        e = self.enc_emb(x.unsqueeze(-1)) + self.pe[:L].to(x.dtype)
        for layer in self.enc:
            e = layer(e)
        mem = self.enc_norm(e)
        v = torch.cat([x[:, L - lab:], x.new_zeros(B, self.H)], 1)
        d = self.dec_emb(v.unsqueeze(-1)) + self.pe[L - lab:L + self.H].to(x.dtype)
        mask = self.mask.to(x.dtype) if self.causal else None
        for layer in self.dec:
            d = layer(d, mem, tgt_mask=mask)
        return self.proj(self.dec_norm(d)[:, lab:])


class DeepAR(nn.Module):
    """ntneural's deepar with a Student-t head: a stacked LSTM over the lagged targets, a Linear
    head, mu = raw, sigma = softplus + 1e-6, nu = 3 + softplus. forward(x, y) feeds the true
    previous values (teacher forcing, training); forward(x) feeds each step the previous location."""

    def __init__(self, L=12, H=4, hidden=5, layers=2, lags=(1, 3)):
        super().__init__()
        self.L, self.H, self.layers, self.lags = L, H, layers, list(lags)
        self.rnn = nn.LSTM(len(lags), hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, 3)

    def ntn_names(self):
        names = rnn_names({}, self.rnn, "encoder", self.layers)
        names["head.weight"] = self.head.weight
        names["head.bias"] = self.head.bias
        return names

    def params(self, raw):  # (..., 3) -> (mu, sigma, nu)
        sp = nn.functional.softplus
        return torch.stack([raw[..., 0], sp(raw[..., 1]) + 1e-6, 3 + sp(raw[..., 2])], -1)

    def forward(self, x, y=None):  # x (B, L), y (B, H) -> (B, H, 3)
        s0, L, H = max(self.lags), self.L, self.H
        if y is not None:
            z = torch.cat([x, y], 1)
            inp = torch.stack([torch.stack([z[:, t - lag] for lag in self.lags], -1) for t in range(s0, L + H)], 1)
            out, _ = self.rnn(inp)
            return self.params(self.head(out[:, -H:]))
        z = [x[:, t] for t in range(L)]
        state, outs = None, []
        for t in range(s0, L + H):
            inp = torch.stack([z[t - lag] for lag in self.lags], -1).unsqueeze(1)
            o, state = self.rnn(inp, state)
            if t >= L:
                par = self.params(self.head(o[:, 0]))
                outs.append(par)
                z.append(par[:, 0])
        return torch.stack(outs, 1)

    @staticmethod
    def nll(par, y):  # mean negative log-likelihood of y (B, H)
        d = torch.distributions.StudentT(par[..., 2], par[..., 0], par[..., 1])
        return -d.log_prob(y).mean()


def peak_rss_mb():
    """VmHWM of this process in MB (ru_maxrss would also count the parent's memory at fork)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def read_safetensors(path):
    """(metadata, {name: float32 numpy array}) of an ntneural fp32 artifact."""
    import json
    import struct

    import numpy as np
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__")
    tensors = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        assert info["dtype"] == "F32", (name, info["dtype"])
        tensors[name] = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=np.float32).reshape(info["shape"])
    return meta, tensors


def nhits_from_artifact(path):
    """(NHITS with the artifact's weights, model config, scaler metadata)."""
    import json
    meta, tensors = read_safetensors(path)
    cfg = json.loads(meta["model_config"])
    assert cfg["type"] == "nhits", cfg["type"]
    model = NHITS(L=cfg["input_size"], H=cfg["horizon"], units=tuple(tuple(u) for u in cfg["mlp_units"]),
                  n_blocks=tuple(cfg["n_blocks"]), pool=tuple(cfg["pool_kernel"]),
                  freq_downsample=tuple(cfg["freq_downsample"]), Q=cfg["outputs"], pooling=cfg["pooling"],
                  interpolation=cfg["interpolation"])
    with torch.no_grad():
        for name, p in model.ntn_names().items():
            p.copy_(torch.from_numpy(tensors[name].copy()))
    model.eval()
    return model, cfg, json.loads(meta["scaler"])


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


class NBEATS(nn.Module):
    """N-BEATS as in neuralforecast: identity / trend / seasonality stacks, one block each by
    default, optional weight sharing inside a stack. Theta layouts (ntneural's too): identity
    [backcast L | forecast (H, Q)], trend / seasonality [backcast p | forecast (p, Q)]."""

    def __init__(self, L=16, H=6, units=((16, 16),), stack_types=("identity", "trend", "seasonality"),
                 n_blocks=(1, 1, 1), n_harmonics=2, n_polynomials=2, Q=1, shared_weights=False):
        super().__init__()
        self.L, self.H, self.Q = L, H, Q
        self.blocks = nn.ModuleList()
        self.meta = []  # (stack, kind, p, index of the MLP in self.blocks)
        freq = [0.0] + [v / n_harmonics for v in range(n_harmonics, int(math.ceil(n_harmonics / 2 * H)))
                        if v < n_harmonics / 2 * H]
        self.bases = {}
        for s, (kind, nb) in enumerate(zip(stack_types, n_blocks)):
            for b in range(nb):
                if kind == "identity":
                    p, n_theta = 0, L + H * Q
                elif kind == "trend":
                    p = n_polynomials + 1
                    n_theta = p * (1 + Q)
                    bc = torch.tensor([[(t / L) ** i for t in range(L)] for i in range(p)], dtype=torch.float64)
                    fc = torch.tensor([[(t / H) ** i for t in range(H)] for i in range(p)], dtype=torch.float64)
                    self.bases[len(self.meta)] = (bc.float(), fc.float())
                else:
                    F_ = len(freq)
                    p = 2 * F_
                    n_theta = p * (1 + Q)
                    f = torch.tensor(freq, dtype=torch.float64)
                    tb = torch.arange(L, dtype=torch.float64)[:, None] / H
                    tf = torch.arange(H, dtype=torch.float64)[:, None] / H
                    gb, gf = -2 * math.pi * tb * f, 2 * math.pi * tf * f  # (L, F), (H, F)
                    bc = torch.cat([torch.cos(gb).T, torch.sin(gb).T])
                    fc = torch.cat([torch.cos(gf).T, torch.sin(gf).T])
                    self.bases[len(self.meta)] = (bc.float(), fc.float())
                if shared_weights and b > 0:
                    mlp_index = self.meta[-1][3]
                else:
                    self.blocks.append(BlockMLP(L, units, n_theta))
                    mlp_index = len(self.blocks) - 1
                self.meta.append((s, kind, p, mlp_index))

    def ntn_names(self):
        names = {}
        first_block_of_mlp = {}
        for j, (s, _, _, mi) in enumerate(self.meta):
            first_block_of_mlp.setdefault(mi, (s, j))
        for mi, (s, j) in first_block_of_mlp.items():
            linear = [m for m in self.blocks[mi].layers if isinstance(m, nn.Linear)]
            for i, lin in enumerate(linear):
                names[f"stacks.{s}.blocks.{j}.mlp.{i}.weight"] = lin.weight
                names[f"stacks.{s}.blocks.{j}.mlp.{i}.bias"] = lin.bias
        return names

    def forward(self, x):
        resid = x.flip(dims=(-1,))
        forecast = x[:, -1:, None].repeat(1, self.H, self.Q)
        for j, (_, kind, p, mi) in enumerate(self.meta):
            theta = self.blocks[mi](resid)
            if kind == "identity":
                backcast = theta[:, : self.L]
                f = theta[:, self.L:].reshape(len(theta), self.H, self.Q)
            else:
                bc, fc = self.bases[j]
                backcast = theta[:, :p] @ bc
                f = torch.einsum("bpq,pt->btq", theta[:, p:].reshape(len(theta), p, self.Q), fc)
            resid = resid - backcast
            forecast = forecast + f
        return forecast
