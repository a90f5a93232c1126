"""nn.data: datasets and loaders (torch.utils.data's names), and readers for real data files.

    from nn.data import DataLoader, TensorDataset, random_split
    train, test = random_split(TensorDataset(X, y), [0.8, 0.2], generator=0)
    for xb, yb in DataLoader(train, batch_size=32, shuffle=True, seed=1):
        ...

File readers: `load_idx`, `FashionMNIST`, `MNIST` (IDX images/labels), `load_csv`,
`load_boston`, `train_test_split`, `standardize` (tables), `CharCorpus` (text).
"""

from nn.data.dataloader import DataLoader, WorkerInfo, default_collate, get_worker_info
from nn.data.dataset import (
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)  # fmt: skip
from nn.data.idx import FASHION_MNIST_ROOT, MNIST, FashionMNIST, load_idx
from nn.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)  # fmt: skip
from nn.data.tabular import load_boston, load_csv, standardize, train_test_split
from nn.data.text import CharCorpus

__all__ = [
    "DataLoader", "default_collate", "get_worker_info", "WorkerInfo", "Sampler",
    "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
    "BatchSampler", "Dataset", "IterableDataset", "TensorDataset", "Subset",
    "ConcatDataset", "random_split", "load_idx", "MNIST", "FashionMNIST", "FASHION_MNIST_ROOT",
    "load_csv", "load_boston", "standardize", "train_test_split", "CharCorpus",
]  # fmt: skip
