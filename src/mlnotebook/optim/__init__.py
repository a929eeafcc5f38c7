"""Drop-in `torch.optim` optimisers, one recipe per file.

Each class has torch 2.13's name, constructor and state_dict layout, and
matches its numbers (tests/optim). `fused=True` (or `foreach=True`) runs the
recipe through `torch.compile` as one fused loop over memory (Muon has no
such path: its cost is matrix products, see muon.py).
"""

from mlnotebook.optim import schedules
from mlnotebook.optim.adadelta import Adadelta
from mlnotebook.optim.adagrad import Adagrad
from mlnotebook.optim.adam import Adam
from mlnotebook.optim.adamw import AdamW
from mlnotebook.optim.budget_schedule import BudgetDecay
from mlnotebook.optim.fit import fit
from mlnotebook.optim.muon import Muon
from mlnotebook.optim.rmsprop import RMSprop
from mlnotebook.optim.schedules import NoamWarmup
from mlnotebook.optim.sgd import SGD

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "BudgetDecay",
    "Muon",
    "NoamWarmup",
    "RMSprop",
    "fit",
    "schedules",
]
