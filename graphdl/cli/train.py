"""``graphdl train``: the main job (see `graphdl.training.job`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from graphdl.cli.options import non_negative_float, non_negative_int, positive_float, positive_int


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train", help="train a model (default: an MLP on the bundled digits) and save the run",
        description="Train a classifier with a compiled graphdl training step. With no options: "
                    "the default MLP on the bundled 8x8 digits, Adam, early stopping.")
    parser.add_argument("--model", default="mlp",
                        help="built-in model (mlp, mlp-bn, linear) or a model script path "
                             "(.py defining build_model; see docs/training.md)")
    parser.add_argument("--optimizer", default=None,
                        choices=["gd", "sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                                 "adam"], help="default: adam")
    parser.add_argument("--lr", type=positive_float, default=None,
                        help="learning rate (default: the optimizer's, 0.001 for adam)")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="maximum epochs (default 150)")
    parser.add_argument("--batch-size", type=positive_int, default=None, help="default 32")
    parser.add_argument("--l2", type=non_negative_float, default=None,
                        help="weight of the L2 term (eq. 10 of Lepetit's lecture; default 1e-4)")
    parser.add_argument("--patience", type=non_negative_int, default=None,
                        help="epochs without validation improvement before stopping "
                             "(default 10; 0 turns early stopping off)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--augment", action="store_true",
                        help="random 1-pixel shifts and small noise on training batches")
    parser.add_argument("--threads", type=non_negative_int, default=1,
                        help="BLAS threads while training (default 1, best for small models; "
                             "0 keeps the library's default)")
    parser.add_argument("--backend", default="numpy", choices=["numpy", "numba"],
                        help="how the compiled steps run: straight-line NumPy (default) or one "
                             "numba kernel per step (pip install graphdl[numba]; compiles for "
                             "a few seconds at the first step, then is cached)")
    parser.add_argument("--out", default="out/train",
                        help="output folder, created if missing (default out/train)")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    parser.add_argument("--scheduler", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="train data-parallel on the Dask scheduler at ADDRESS "
                             "(tcp://host:8786), or on a local cluster when no address is "
                             "given; see docs/distributed.md")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from graphdl.training.job import TrainOptions
    from graphdl.training.job import run as run_job
    from graphdl.training.models import MODELS, resolve

    if args.model not in MODELS and not Path(args.model).is_file():
        resolve(args.model)  # refuses it, naming the built-ins or the missing script
    Path(args.out).mkdir(parents=True, exist_ok=True)  # likewise an --out that cannot be made
    options = TrainOptions(
        model=args.model, optimizer=args.optimizer, lr=args.lr, epochs=args.epochs,
        batch_size=args.batch_size, l2=args.l2, patience=args.patience, seed=args.seed,
        out=args.out, dtype=args.dtype, augment=args.augment, threads=args.threads,
        verbose=not args.quiet, backend=args.backend)
    if args.scheduler is not None:
        from graphdl.distributed.train import run as run_distributed

        run_distributed(options, args.scheduler)
        return 0
    run_job(options)
    return 0
