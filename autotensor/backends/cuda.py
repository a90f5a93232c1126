"""torch.backends.cuda: `matmul.allow_tf32` and friends are settable; CUDA is not built."""

from __future__ import annotations


class _MatmulFlags:
    """`backends.cuda.matmul`: flags a script may set; numpy's matmul never uses TF32."""

    def __init__(self) -> None:
        self.allow_tf32 = False
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True


matmul = _MatmulFlags()


def is_built() -> bool:
    return False


def flash_sdp_enabled() -> bool:
    return False


def mem_efficient_sdp_enabled() -> bool:
    return False


def math_sdp_enabled() -> bool:
    return True


def enable_flash_sdp(enabled: bool) -> None:
    """Accepted: attention always takes the one (math) path here."""


def enable_mem_efficient_sdp(enabled: bool) -> None:
    """Accepted: attention always takes the one (math) path here."""


def enable_math_sdp(enabled: bool) -> None:
    if not enabled:
        raise NotImplementedError("backends.cuda.enable_math_sdp(False): the math path is the "
                                  "only attention path there is")  # fmt: skip
