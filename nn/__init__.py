"""nn: PyTorch-style modules, losses, optimizers and data tools on autotensor."""
