"""RaDOGAGA image autoencoder: transforms and learned factorized prior.

This is the only module of rdcodec that imports :mod:`compressai`.

The transforms are those of the factorized-prior family (Ballé et al. 2018),
built from compressai's GDN layers, with the layer names of
``compressai.models.FactorizedPrior`` so a state dict moves between the two::

        x ──► g_a (analysis f_θ) ──► z ──┬──────────────► g_s ──► x̂  = g(z)        (eq. 2)
      [B,3,H,W]   4 × conv5×5/2 + GDN  [B,M,H/16,W/16] │
                                                   z + ε ─► g_s ──► x̆  = g(z + ε)    (eq. 3, 4)
                                                     │
                                   EntropyBottleneck P_ψ(z + ε)  ─► rate −log₂ P        (eq. 5, 1st term)

At coding time ``z`` is rounded around the per-channel medians of P_ψ, the
symbols are range coded with frozen integer tables (:mod:`rdcodec.format.entropy`),
and the decoder computes ``g_s(symbols + medians)``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import nn

with warnings.catch_warnings():
    # compressai 1.2.8 warns about torch.jit.script at import; nothing else is hidden.
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
    from compressai.entropy_models import EntropyBottleneck
    from compressai.layers import GDN

if TYPE_CHECKING:
    import numpy as np

from rdcodec.format.container import LATENT_STRIDE
from rdcodec.model.precision import bf16_autocast
from rdcodec.settings import NetworkConfig

__all__ = ["GDN", "EntropyBottleneck", "NetworkConfig", "PlainLayer", "RDAutoencoder", "STRIDE", "TrainingOutputs"]

#: Total down-sampling factor of the analysis transform (four stride-2 convolutions).
STRIDE = LATENT_STRIDE


class PlainLayer(NamedTuple):
    """One layer of a transform as numpy arrays: ``conv``/``deconv`` (weight, bias; 5 × 5,
    stride 2, padding 2, output padding 1 for ``deconv``) or ``gdn``/``igdn`` (γ [C, C], β [C])."""

    kind: str
    weight: "np.ndarray"
    bias: "np.ndarray"


class TrainingOutputs(NamedTuple):
    z: torch.Tensor
    z_noisy: torch.Tensor
    likelihoods: torch.Tensor  # P_ψ(z + ε), per element
    x_clean: torch.Tensor | None  # g(z); None when the pass did not decode it (the Ballé loss)
    x_noisy: torch.Tensor  # g(z + ε)


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=5, stride=2, padding=2)


def _deconv(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, kernel_size=5, stride=2, padding=2, output_padding=1)


class RDAutoencoder(nn.Module):
    """Encoder f_θ = ``g_a``, decoder g_φ = ``g_s``, prior P_ψ = ``entropy_bottleneck`` (paper eq. 2–5).

    Inputs are float images in [0, 1] with H and W multiples of :data:`STRIDE`.
    """

    def __init__(self, config: NetworkConfig = NetworkConfig()):
        super().__init__()
        N, M = config.N, config.M
        self.config = config
        self.g_a = nn.Sequential(_conv(3, N), GDN(N), _conv(N, N), GDN(N), _conv(N, N), GDN(N), _conv(N, M))
        self.g_s = nn.Sequential(
            _deconv(M, N),
            GDN(N, inverse=True),
            _deconv(N, N),
            GDN(N, inverse=True),
            _deconv(N, N),
            GDN(N, inverse=True),
            _deconv(N, 3),
        )
        self.entropy_bottleneck = EntropyBottleneck(M)

    # --- training-time pieces (eq. 3-5) ---------------------------------------------------
    def forward(self, x: torch.Tensor, bf16: bool = False, step: float = 1.0, decode_clean: bool = True) -> "TrainingOutputs":
        """One training pass: z, z + Δ·ε, P_ψ(z + Δ·ε), g(z), g(z + Δ·ε) (one batched decoder call).

        ``step`` is the quantization step Δ the pass stands for (1 = the unit grid of eq. 3;
        a variable-rate run draws one per batch). With ``bf16`` the transforms run under
        bfloat16 autocast; the prior stays in float32. ``decode_clean = False`` leaves g(z) out
        (``x_clean`` is None): the Ballé loss needs only g(z + Δ·ε), and the decoder is the
        costliest part of a step.
        """
        autocast = bf16_autocast(x, bf16)
        with autocast:
            z = self.encode_latent(x)
        z = z.float()
        z_noisy, likelihoods = self.noisy_latent(z, step)
        with autocast:
            decoded = self.decode_latent(torch.cat([z, z_noisy]) if decode_clean else z_noisy)
        decoded = decoded.float()
        if not decode_clean:
            return TrainingOutputs(z, z_noisy, likelihoods, None, decoded)
        return TrainingOutputs(z, z_noisy, likelihoods, decoded[: len(x)], decoded[len(x) :])

    def encode_latent(self, x: torch.Tensor) -> torch.Tensor:
        """z = f_θ(x) (eq. 2)."""
        return self.g_a(x)

    def decode_latent(self, z: torch.Tensor) -> torch.Tensor:
        """x̂ = g_φ(z) (eq. 2), unclamped."""
        return self.g_s(z)

    def noisy_latent(self, z: torch.Tensor, step: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """z + Δ·ε with ε ~ U(−½, ½) (σ² = Δ²/12, eq. 3) and the bin likelihood P_ψ(z + Δ·ε).

        Δ = 1 is compressai's own ``EntropyBottleneck`` forward. For another Δ the likelihood is
        the mass of P_ψ on the bin of width Δ around z + Δ·ε — the same bins the tables are
        frozen from at export (:meth:`discrete_pmf`), with compressai's sign trick and its
        likelihood lower bound.
        """
        eb = self.entropy_bottleneck
        if step == 1.0:
            return eb(z, training=True)
        z_noisy = z + step * (torch.rand_like(z) - 0.5)
        c = z.shape[1]
        v = z_noisy.transpose(0, 1).reshape(c, 1, -1)  # [M, 1, n]
        lower = eb._logits_cumulative(v - 0.5 * step, stop_gradient=False)
        upper = eb._logits_cumulative(v + 0.5 * step, stop_gradient=False)
        sign = -torch.sign(lower + upper).detach()
        likelihood = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        if eb.use_likelihood_bound:
            likelihood = eb.likelihood_lower_bound(likelihood)
        shape = (c, z.shape[0]) + tuple(z.shape[2:])
        return z_noisy, likelihood.reshape(shape).transpose(0, 1)

    def settle_quantiles(self) -> None:
        """Place the prior's tail quantiles exactly (compressai's bisection), e.g. before freezing
        tables, or under DDP where the aux loss is not run."""
        with torch.no_grad():
            self.entropy_bottleneck._update_quantiles()

    def aux_loss(self) -> torch.Tensor:
        """compressai's quantile loss that places the prior's tail quantiles (used for the tables)."""
        return self.entropy_bottleneck.loss()

    # --- coding-time pieces ---------------------------------------------------------------
    def medians(self) -> torch.Tensor:
        """Per-channel medians of P_ψ, the centres of the quantization grid (shape [M])."""
        return self.entropy_bottleneck._get_medians().detach().reshape(-1)

    def quantize(self, z: torch.Tensor, medians: torch.Tensor, step: float = 1.0) -> torch.Tensor:
        """Integer symbols round((z − median) / Δ) (float tensor holding integers)."""
        return torch.round((z - medians.view(1, -1, 1, 1)) / step)

    def dequantize(self, symbols: torch.Tensor, medians: torch.Tensor, step: float = 1.0) -> torch.Tensor:
        """ẑ = symbols · Δ + median."""
        return symbols * step + medians.view(1, -1, 1, 1)

    def plain_layers(self) -> tuple[list["PlainLayer"], list["PlainLayer"]]:
        """(g_a, g_s) as plain float32 numpy layers, GDN's reparametrised β and γ evaluated.

        What the inference graphs are built from (:mod:`rdcodec.runtime.graphs`): no compressai
        parametrisation is left, only convolution weights and GDN's effective β [C] and γ [C, C]
        (GDN: y = x / sqrt(β + γ x²), inverse GDN: y = x · sqrt(β + γ x²)).
        """

        def plain(sequence: nn.Sequential) -> list[PlainLayer]:
            layers = []
            for module in sequence:
                if isinstance(module, GDN):
                    channels = module.beta.shape[0]
                    beta = module.beta_reparam(module.beta).detach()
                    gamma = module.gamma_reparam(module.gamma).detach().reshape(channels, channels)
                    kind = "igdn" if module.inverse else "gdn"
                    layers.append(PlainLayer(kind, gamma.float().numpy().copy(), beta.float().numpy().copy()))
                else:
                    kind = "deconv" if isinstance(module, nn.ConvTranspose2d) else "conv"
                    weight, bias = module.weight.detach().float().numpy().copy(), module.bias.detach().float().numpy().copy()
                    layers.append(PlainLayer(kind, weight, bias))
            return layers

        with torch.no_grad():
            return plain(self.g_a), plain(self.g_s)

    @torch.no_grad()
    def reinitialise_channels(
        self, channels: list[int], encoder_norm: float, prior_scale: float, generator: torch.Generator
    ) -> None:
        """Give latent ``channels`` a fresh start inside a trained network (idle-channel revival).

        - g_a's last convolution: each channel's filter becomes a random direction of norm
          ``encoder_norm``, bias 0, so the channel carries a varying latent again;
        - g_s's first (transposed) convolution: the channel's input filters become 0, so the
          reconstruction is unchanged until training finds a use for the channel (their
          gradient, the correlation of the new latent with the distortion gradient, is not 0);
        - P_ψ: the channel's density parameters are those of a fresh factorized prior with
          compressai's ``init_scale = prior_scale`` (quantiles at ±prior_scale), replacing the
          spike a collapsed channel's prior has become (which would price any variation at
          tens of bits).

        Other channels, the optimiser-visible shapes and the state-dict layout are untouched.
        """
        if not channels:
            return
        index = torch.as_tensor(sorted(set(channels)), dtype=torch.long)
        if int(index.min()) < 0 or int(index.max()) >= self.config.M:
            raise ValueError(f"channels must lie in [0, {self.config.M})")
        encoder = self.g_a[-1]
        direction = torch.randn(encoder.weight[index].shape, generator=generator, dtype=torch.float32)
        direction *= encoder_norm / direction.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        encoder.weight[index] = direction.to(encoder.weight)
        encoder.bias[index] = 0.0
        self.g_s[0].weight[index] = 0.0  # ConvTranspose2d weight: [in = M, out = N, k, k]
        seed = int(torch.randint(2**62, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):  # compressai draws the biases from the global generator
            torch.manual_seed(seed)
            fresh = EntropyBottleneck(len(index), init_scale=prior_scale)
        mine = dict(self.entropy_bottleneck.named_parameters())
        for name, value in fresh.named_parameters():
            mine[name][index] = value.to(mine[name])

    @torch.no_grad()
    def widened(self, hidden: int | None = None, latent: int | None = None, seed: int = 0) -> "RDAutoencoder":
        """A copy with ``hidden`` (≥ N) hidden and ``latent`` (≥ M) latent channels that computes
        the same f, g and P_ψ on the old channels (function-preserving widening, Net2WiderNet-style,
        Chen et al. 2016); ``None`` keeps a width.

        Every old weight keeps its place (the leading slice of each dimension); each new channel
        gets the fresh initialisation of its incoming filters (GDN: β = 1, γ = 0.1 on its own
        diagonal), and every weight from a new channel into an old one is 0, as are GDN's γ
        between old and new channels. The old channels therefore see exactly what they saw and
        g's output is unchanged; the new channels, active from their random inputs, get
        gradients through the zero weights as soon as training runs::

            x ─► conv ─► [old | new] ─► GDN ─► … ─► conv ─► z = [old | new] ─► deconv ─► …
                                                   (new → old weights: 0, so g ignores new z)

        New latent channels (``latent`` > M) get a fresh factorized prior (compressai's init);
        the old channels' prior parameters are copied. Give them a trained network's scale with
        :func:`rdcodec.train.revival.revive_channels` and :func:`~rdcodec.train.revival.fit_revived_prior`
        before training, as for revived idle channels.
        """
        N, M = self.config.N, self.config.M
        hidden = N if hidden is None else hidden
        latent = M if latent is None else latent
        if hidden < N or latent < M or (hidden, latent) == (N, M):
            raise ValueError(
                f"widening needs at least the {N} hidden and {M} latent channels there are and more of one (got {hidden}, {latent})"
            )
        with torch.random.fork_rng():  # the new filters from their own seed; the caller's generators untouched
            torch.manual_seed(seed)
            wide = RDAutoencoder(NetworkConfig(N=hidden, M=latent))
        if latent == M:
            wide.entropy_bottleneck.load_state_dict(self.entropy_bottleneck.state_dict())
        else:  # every density parameter (and the quantiles) is [channels, …]
            fresh = dict(wide.entropy_bottleneck.named_parameters())
            for name, value in self.entropy_bottleneck.named_parameters():
                fresh[name][:M] = value
        for old_seq, new_seq in ((self.g_a, wide.g_a), (self.g_s, wide.g_s)):
            for old, new in zip(old_seq, new_seq):
                if isinstance(old, GDN):
                    n = old.beta.shape[0]
                    new.beta[:n] = old.beta
                    new.gamma[:n, :n] = old.gamma  # the rest: the reparametrised 0 (and 0.1 on new diagonals)
                    continue
                # weight layout: Conv2d [out, in, k, k], ConvTranspose2d [in, out, k, k]
                out_dim, in_dim = (1, 0) if isinstance(old, nn.ConvTranspose2d) else (0, 1)
                n_out, n_in = old.weight.shape[out_dim], old.weight.shape[in_dim]
                index = [slice(None)] * 4
                index[out_dim], index[in_dim] = slice(0, n_out), slice(0, n_in)
                new.weight[tuple(index)] = old.weight
                index[in_dim] = slice(n_in, None)
                new.weight[tuple(index)] = 0.0  # new inputs into old outputs
                new.bias[:n_out] = old.bias
        return wide

    def parameter_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(main parameters, auxiliary quantile parameters), as compressai's examples split them."""
        main, aux = [], []
        for name, p in self.named_parameters():
            (aux if name.endswith(".quantiles") else main).append(p)
        return main, aux

    def bin_bits(self, v: torch.Tensor, medians: torch.Tensor, step: float = 1.0) -> torch.Tensor:
        """Σ −log₂ P_ψ(m_c + Δ(v − ½) < z < m_c + Δ(v + ½)) over a latent v in symbol units.

        The bin probability the tables are frozen from (:meth:`discrete_pmf`), evaluated at
        continuous v and differentiable in it (the encoder-side search's rate term). Upper
        tails use compressai's sign trick, so far-out bins keep their precision.
        """
        return self.channel_bin_bits(v, medians, step).sum()

    def channel_bin_bits(self, v: torch.Tensor, medians: torch.Tensor, step: float = 1.0) -> torch.Tensor:
        """:meth:`bin_bits` per latent channel (shape [M]): where a latent's bits go."""
        eb = self.entropy_bottleneck
        z = (v * step + medians.view(1, -1, 1, 1)).permute(1, 0, 2, 3).reshape(v.shape[1], 1, -1)  # [M, 1, n]
        lower = eb._logits_cumulative(z - 0.5 * step, stop_gradient=True)
        upper = eb._logits_cumulative(z + 0.5 * step, stop_gradient=True)
        sign = -torch.sign(lower + upper).detach()
        p = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs().clamp_min(1e-9)
        return -torch.log2(p).sum(dim=(1, 2))

    def discrete_pmf(self, lower: torch.Tensor, upper: torch.Tensor, step: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """P_ψ of each symbol s ∈ [lower_c, upper_c], the bin [m_c + (s − ½)Δ, m_c + (s + ½)Δ).

        Δ = ``step`` is the quantization step (1 = the unit grid the model was trained for).
        Returns (pmf [M, K], tail_mass [M]) with K = max(upper − lower) + 1; entries past a
        channel's range are 0; ``tail_mass`` is P_ψ outside the range (the escape probability).
        Used once, at export, to freeze the integer tables.
        """
        eb = self.entropy_bottleneck
        medians = self.medians().view(-1, 1)
        span = int((upper - lower).max().item()) + 1
        symbols = lower.view(-1, 1).float() + torch.arange(span, dtype=torch.float32).view(1, -1)
        valid = symbols <= upper.view(-1, 1).float()
        edges = torch.cat([symbols - 0.5, symbols[:, -1:] + 0.5], dim=1) * step + medians
        top = (upper.view(-1, 1).float() + 0.5) * step + medians
        with torch.no_grad():
            cdf = torch.sigmoid(eb._logits_cumulative(edges.unsqueeze(1), stop_gradient=True).squeeze(1))
            top_logit = eb._logits_cumulative(top.unsqueeze(1), stop_gradient=True).reshape(-1)
        pmf = (cdf[:, 1:] - cdf[:, :-1]).clamp_min(0)
        pmf = torch.where(valid, pmf, torch.zeros_like(pmf))
        tail = cdf[:, 0] + torch.sigmoid(-top_logit)
        return pmf, tail


def compressai_factorized_prior(config: NetworkConfig, state_dict: dict) -> nn.Module:
    """compressai's own ``FactorizedPrior`` loaded with our weights (for timing comparisons)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
        from compressai.models import FactorizedPrior
    model = FactorizedPrior(config.N, config.M)
    model.load_state_dict(state_dict, strict=False)
    model.update(force=True)
    return model.eval()
