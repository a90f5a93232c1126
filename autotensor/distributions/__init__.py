"""torch.distributions' most used families, composed from autotensor's differentiable ops.

`Categorical(probs=None, logits=None)`, `Normal(loc, scale)` and `Bernoulli(probs=None,
logits=None)` with torch's parameterisation, shapes and formulas: `sample(sample_shape)`
(no gradient), `rsample` for Normal (reparameterised: loc + eps * scale), `log_prob`,
`entropy`, `mean`, `mode`, `variance`, `stddev`, `batch_shape`, `event_shape`. Draws come
from autotensor's generator, so they differ from torch's draws; their distribution is the
same. Parameters are checked as torch checks them by default (ValueError naming the
parameter and its constraint).
"""

from __future__ import annotations

from autotensor.distributions.distribution import Distribution
from autotensor.distributions.families import Bernoulli, Categorical, Normal

__all__ = ["Bernoulli", "Categorical", "Distribution", "Normal"]
