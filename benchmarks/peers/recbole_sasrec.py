"""Peer benchmark: RecBole 1.2 SASRec on an ICLRec-format sequence file.

Runs in the separate peers venv (torch CPU + recbole), never imports rec_jax:

    /work/peers/.venv/bin/python benchmarks/peers/recbole_sasrec.py \
        --data /tmp/Beauty.txt --epochs 1

Input: one line per user, ``user item item ...`` (items in time order). The file
is converted to a RecBole atomic file ``<workdir>/<name>/<name>.inter`` with
``timestamp`` = position of the item in the user's line, then RecBole's SASRec
is trained with a leave-one-out split by time (last item = test, second last =
valid), no filtering, and evaluated in "full" (all items) or "uni100" (100
uniform negatives) mode.

Measured (wall clock, time.perf_counter):
  * train_seconds: only the ``trainer._train_epoch`` calls (no validation in
    between); train_samples = len(train dataset) = one sample per training
    prefix (RecBole's sequential data augmentation), summed over epochs for /s.
  * eval_seconds: one ``trainer.evaluate`` pass over all test users.
  * test and valid metrics (Hit/NDCG/MRR @1,5,10) of the final model.

Exactly one line goes to stdout: ``RESULT {json}``; RecBole's logs go to stderr.
"""
import argparse
import json
import logging
import os
import sys
import tempfile
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="ICLRec-format sequence file")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=256, help="train batch size")
    p.add_argument("--eval-batch-size", type=int, default=256, help="users per eval batch")
    p.add_argument("--max-length", type=int, default=50)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--inner", type=int, default=256, help="FFN size (RecBole default 256)")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=1)
    p.add_argument("--hidden-dropout", type=float, default=0.5)
    p.add_argument("--attn-dropout", type=float, default=0.5)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--loss", choices=["CE", "BPR"], default="CE")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--eval", choices=["full", "uni100"], default="full")
    p.add_argument("--stopping-step", type=int, default=0,
                   help="> 0: RecBole's own fit (validation every epoch, stop after this many without a better "
                        "NDCG@10, test on the best epoch's model) up to --epochs, instead of fixed epochs")
    p.add_argument("--workdir", default=None, help="atomic files + checkpoints (default: new temp dir)")
    return p.parse_args()


def write_atomic(data_path, workdir):
    """ICLRec lines -> <workdir>/<name>/<name>.inter; returns (name, n_users, n_inters)."""
    name = os.path.splitext(os.path.basename(data_path))[0]
    os.makedirs(os.path.join(workdir, name), exist_ok=True)
    n_users = n_inters = 0
    with open(data_path) as src, open(os.path.join(workdir, name, name + ".inter"), "w") as dst:
        dst.write("user_id:token\titem_id:token\ttimestamp:float\n")
        for line in src:
            parts = line.split()
            if len(parts) < 2:
                continue
            user, items = parts[0], parts[1:]
            for pos, item in enumerate(items):
                dst.write(f"{user}\t{item}\t{pos}\n")
            n_users += 1
            n_inters += len(items)
    return name, n_users, n_inters


def main():
    args = parse_args()
    data_path = os.path.abspath(args.data)
    workdir = os.path.abspath(args.workdir or tempfile.mkdtemp(prefix="recbole_sasrec_"))
    os.makedirs(workdir, exist_ok=True)
    # RecBole writes ./log_tensorboard relative to cwd: keep that inside workdir.
    os.chdir(workdir)
    # RecBole's Config also parses sys.argv ("--key=value"); hide our own flags from it.
    sys.argv = sys.argv[:1]
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")

    import torch

    # RecBole 1.2 calls torch.load(ckpt) without weights_only; torch>=2.6 defaults
    # it to True, which rejects RecBole's checkpoints (they hold the config dict).
    _torch_load = torch.load

    def _load(*a, **kw):
        kw.setdefault("weights_only", False)
        return _torch_load(*a, **kw)

    torch.load = _load
    torch.set_num_threads(args.threads)

    import recbole
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.sequential_recommender import SASRec
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    name, n_users, n_inters = write_atomic(data_path, workdir)
    logging.info("atomic file: %d users, %d interactions", n_users, n_inters)

    config = Config(model="SASRec", dataset=name, config_dict={
        "data_path": workdir,
        "checkpoint_dir": os.path.join(workdir, "saved"),
        "use_gpu": False, "gpu_id": "", "device": "cpu", "worker": 0,
        "seed": args.seed, "reproducibility": True, "show_progress": False, "state": "INFO",
        # Data: keep every user/item and interaction; time order = line position.
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TIME_FIELD": "timestamp",
        "rm_dup_inter": None, "val_interval": None,
        "filter_inter_by_user_or_item": False,
        "user_inter_num_interval": "[0,inf)", "item_inter_num_interval": "[0,inf)",
        "MAX_ITEM_LIST_LENGTH": args.max_length,
        # Leave-one-out by time, per user.
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO",
                      "group_by": "user", "mode": args.eval},
        "repeatable": True,
        "metrics": ["Hit", "NDCG", "MRR"], "topk": [1, 5, 10],
        "valid_metric": "NDCG@10", "metric_decimal_place": 6,
        # Model / training.
        "hidden_size": args.hidden, "inner_size": args.inner, "n_layers": args.layers,
        "n_heads": args.heads, "hidden_dropout_prob": args.hidden_dropout,
        "attn_dropout_prob": args.attn_dropout, "loss_type": args.loss,
        "train_neg_sample_args": None if args.loss == "CE" else
        {"distribution": "uniform", "sample_num": 1},
        "epochs": args.epochs, "eval_step": 1 if args.stopping_step else args.epochs,
        "stopping_step": args.stopping_step or args.epochs + 1,
        "train_batch_size": args.batch_size, "eval_batch_size": args.eval_batch_size,
        "learner": "adam", "learning_rate": args.lr,
    })
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    logging.info("%s", dataset)
    train_data, valid_data, test_data = data_preparation(config, dataset)

    init_seed(config["seed"], config["reproducibility"])
    model = SASRec(config, train_data._dataset).to(config["device"])
    trainer = Trainer(config, model)
    trainer.eval_collector.data_collect(train_data)  # as Trainer.fit does

    train_samples = len(train_data._dataset)  # one sample per training prefix
    train_seconds = 0.0
    epochs = args.epochs
    if args.stopping_step:
        # RecBole's own protocol: fit with validation every epoch and early stopping; the best epoch's model.
        counted, train_epoch = [], trainer._train_epoch

        def _counted(*a, **kw):
            counted.append(1)
            return train_epoch(*a, **kw)

        trainer._train_epoch = _counted
        t0 = time.perf_counter()
        trainer.fit(train_data, valid_data, saved=True, show_progress=False)
        train_seconds = time.perf_counter() - t0   # (includes the per-epoch validation)
        epochs = len(counted)
    # (a) Training: time only the epoch passes, no validation in between.
    for epoch in range(0 if args.stopping_step else args.epochs):
        t0 = time.perf_counter()
        loss = trainer._train_epoch(train_data, epoch, show_progress=False)
        dt = time.perf_counter() - t0
        train_seconds += dt
        logging.info("epoch %d: loss %.4f, %.1f s", epoch, float(loss), dt)
    # Save + reload the checkpoint as RecBole's run_recbole does (exercises torch.load).
    if not args.stopping_step:
        trainer._save_checkpoint(args.epochs - 1, verbose=False)

    # (c) Validation metrics (untimed), then (b) timed test evaluation.
    valid = trainer.evaluate(valid_data, load_best_model=True, show_progress=False)
    eval_users = len(test_data._dataset)  # one test row per user (leave-one-out)
    t0 = time.perf_counter()
    test = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
    eval_seconds = time.perf_counter() - t0

    result = {
        "peer": "recbole-SASRec",
        "recbole_version": recbole.__version__,
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "epochs": epochs,
        "train_samples": train_samples,
        "train_seconds": round(train_seconds, 3),
        "train_samples_per_s": round(train_samples * epochs / train_seconds, 1),
        "eval_users": eval_users,
        "eval_seconds": round(eval_seconds, 3),
        "eval_users_per_s": round(eval_users / eval_seconds, 1),
        "test": {k: float(v) for k, v in test.items()},
        "valid": {k: float(v) for k, v in valid.items()},
        "settings": {**vars(args), "data": data_path, "workdir": workdir,
                     "n_users": n_users, "n_interactions": n_inters,
                     "n_items": dataset.item_num - 1},  # item_num counts padding id 0
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
