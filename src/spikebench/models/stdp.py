r"""STDP: a hidden LIF layer trained without labels, and a readout trained on its spikes.

Input ``x`` float32 ``[T, B, C]`` (spike counts per bin) -> excitatory LIF layer
(non-negative input weights, fixed lateral inhibition) -> spikes ``[T, B, hidden]`` -> LI
readout ``[T, B, K]`` -> class scores. Only the readout learns by gradient; the hidden
layer changes only by the rules below, after every training-mode forward pass of the
first ``stdp_epochs`` epochs (:meth:`STDPNet.on_epoch_start`). Evaluation changes nothing.

**Learning rule: pair-based STDP, all-to-all pairing, additive with hard bounds** (Song,
Miller & Abbott 2000; online trace form of Morrison, Diesmann & Gerstner 2008, Biol.
Cybern. 98:459). Each input keeps a presynaptic trace ``x`` and each neuron a
postsynaptic trace ``y`` (``dt``: the step in seconds)::

    x_t = x_{t-1} exp(-dt / tau_plus)  + s^pre_t         (s^pre: input counts at step t)
    y_t = y_{t-1} exp(-dt / tau_minus) + s^post_t        (s^post: the neuron's spikes)
    dW[o, i] = a_plus  sum_t s^post_t[o] x_t[i]                       pre at or before post
             - a_minus sum_t (y_t - s^post_t)[o] s^pre_t[i]           post strictly before pre

summed over time and averaged over the batch (:func:`stdp_update`). For one pre spike at
step ``t_pre`` and one post spike at ``t_post`` this is ``a_plus exp(-(t_post - t_pre)
dt / tau_plus)`` if ``t_pre <= t_post`` and ``-a_minus exp(-(t_pre - t_post) dt /
tau_minus)`` otherwise. Then, as in Diehl & Cook 2015 ("Unsupervised learning of digit
recognition using spike-timing-dependent plasticity", Front. Comput. Neurosci. 9:99):

* **weights** are clipped to ``[0, w_max]`` and **normalised**: each neuron's incoming
  weights are rescaled to sum to ``w_sum`` (D&C: 78 for 784 inputs, a mean of 0.1), so
  potentiation of some synapses depresses the others (competition between inputs);
* **lateral inhibition**: every neuron inhibits every other through fixed recurrent
  weights ``-w_inh`` (D&C route this through an inhibitory population; a direct
  inhibitory recurrent connection is the usual simplification), so neurons compete for
  inputs and learn different patterns;
* **homeostasis**: each neuron's bias drops by ``eta_theta (rate - target_rate)`` per
  update (``rate``: its spikes per step in the batch), the additive equivalent of D&C's
  adaptive threshold ``theta`` (a higher threshold is a lower constant input).

Units: ``dt``, ``tau_*`` in seconds; with the default ``dt = 1e-3`` a time bin counts as a
1 ms step (Norse's convention); the traces' ``tau_plus = tau_minus = 20 ms`` are D&C's.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from spikebench.models.base import Model, ModelOutput
from spikebench.models.registry import register_model
from spikebench.models.spiking import READOUTS, class_scores


def exp_trace(s: torch.Tensor, decay: float) -> torch.Tensor:
    """``x_t = decay x_{t-1} + s_t`` from ``x_{-1} = 0``, over ``s [T, ...]`` (time first)."""
    out = torch.empty_like(s)
    x = torch.zeros_like(s[0])
    for t in range(s.shape[0]):
        x = decay * x + s[t]
        out[t] = x
    return out


def stdp_update(pre: torch.Tensor, post: torch.Tensor, *, a_plus: float, a_minus: float,
                tau_plus: float, tau_minus: float, dt: float) -> torch.Tensor:
    """Pair-based STDP weight change ``dW [N_post, N_pre]`` (module docstring), batch mean.

    ``pre [T, B, N_pre]`` (input counts), ``post [T, B, N_post]`` (spikes), times in seconds.
    """
    x = exp_trace(pre, math.exp(-dt / tau_plus))  # [T, B, N_pre]
    y_before = exp_trace(post, math.exp(-dt / tau_minus)) - post  # earlier post spikes only
    b = pre.shape[1]
    ltp = torch.einsum("tbo,tbi->oi", post, x)
    ltd = torch.einsum("tbo,tbi->oi", y_before, pre)
    return (a_plus * ltp - a_minus * ltd) / b


@register_model("stdp", family="stdp", streamable=True, nir_exportable=True)
class STDPNet(Model):
    """STDP-trained LIF layer with lateral inhibition (Diehl & Cook 2015) + trained LI readout.

    ``w_sum = 0`` means ``0.1 * n_in`` (Diehl & Cook's mean weight of 0.1). ``stdp_epochs``:
    how many of the first training epochs apply STDP before the hidden layer is frozen.
    """

    def __init__(self, *, n_in: int, n_classes: int, n_steps: int, hidden: int = 200,
                 stdp_epochs: int = 1, a_plus: float = 1e-3, a_minus: float = 1.05e-3,
                 tau_plus: float = 2e-2, tau_minus: float = 2e-2, w_max: float = 1.0,
                 w_sum: float = 0.0, w_inh: float = 1.0, target_rate: float = 0.05,
                 eta_theta: float = 0.05, readout: str = "max", engine: str = "fused",
                 tau_syn: float = 5e-3, tau_mem: float = 2e-2, dt: float = 1e-3) -> None:
        super().__init__()
        from spikebench.engine.layers import LI, LIF

        w_sum = w_sum if w_sum > 0 else 0.1 * n_in

        if hidden < 1 or stdp_epochs < 0:
            raise ValueError("need hidden >= 1 and stdp_epochs >= 0")
        if min(a_plus, a_minus, w_inh, eta_theta) < 0 or min(tau_plus, tau_minus, w_max, w_sum) <= 0:
            raise ValueError("STDP amplitudes and w_inh >= 0; time constants, w_max, w_sum > 0")
        if not 0 < target_rate < 1:
            raise ValueError(f"target_rate is spikes per step, in (0, 1), not {target_rate}")
        if w_sum > w_max * n_in:
            raise ValueError(f"w_sum={w_sum} cannot be reached with {n_in} inputs of at most w_max={w_max}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {', '.join(READOUTS)}, not {readout!r}")
        self.rule = dict(a_plus=a_plus, a_minus=a_minus, tau_plus=tau_plus, tau_minus=tau_minus,
                         dt=dt)
        self.w_max, self.w_sum, self.target_rate, self.eta_theta = w_max, w_sum, target_rate, eta_theta
        self.stdp_epochs = stdp_epochs
        self.plastic = stdp_epochs > 0
        self.layer = LIF(n_in, hidden, recurrent=True, tau_syn=tau_syn, tau_mem=tau_mem, dt=dt,
                         engine=engine)
        with torch.no_grad():
            self.layer.linear.weight.uniform_(0.0, 1.0)
            self.layer.linear.bias.zero_()
            self.layer.recurrent.weight.fill_(-w_inh).fill_diagonal_(0.0)
            self.normalise()
        for p in self.layer.parameters():
            p.requires_grad_(False)
        self.out = LI(hidden, n_classes, tau_syn=tau_syn, tau_mem=tau_mem, dt=dt, engine=engine)
        self.readout = readout

    @torch.no_grad()
    def normalise(self) -> None:
        """Clip the input weights to ``[0, w_max]``, rescale each neuron's to sum ``w_sum``."""
        w = self.layer.linear.weight
        for _ in range(3):  # rescaling can push a few weights over w_max: clip and repeat
            w.clamp_(0.0, self.w_max)
            w.mul_(self.w_sum / w.sum(1, keepdim=True).clamp_min(1e-12))
        w.clamp_(0.0, self.w_max)

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        self.plastic = epoch < self.stdp_epochs

    @torch.no_grad()
    def learn(self, x: torch.Tensor, spikes: torch.Tensor) -> None:
        """One unsupervised step from input ``x [T, B, C]`` and hidden ``spikes [T, B, N]``."""
        self.layer.linear.weight.add_(stdp_update(x, spikes, **self.rule))
        self.normalise()
        rate = spikes.mean(dim=(0, 1))  # spikes per step, [N]
        self.layer.linear.bias.sub_(self.eta_theta * (rate - self.target_rate))

    def forward(self, x: torch.Tensor) -> ModelOutput:
        with torch.no_grad():
            spikes = self.layer(x)  # [T, B, hidden]
            if self.training and self.plastic:
                self.learn(x, spikes)
        v = self.out(spikes)  # [T, B, K]
        return ModelOutput(class_scores(v, self.readout), (spikes,))
