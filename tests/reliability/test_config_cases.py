"""The reliability corpus, configs: every bad config value, name, flag and command line of `rec_jax.main` ends
before any work in exactly one `error:` line naming the key, the value and the rule (in-process, the CLI's own
parsing: rec_jax.main.invoke), and leaves the workdir untouched."""

import os

import pytest

from rec_jax.main import invoke

SMOKE = "--config=configs/synthetic.py:smoke"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (override, the whole error line after "error: ")
RANGE = [
    ("train.num_steps=0", "train.num_steps=0 must be >= 1"),
    ("train.num_steps=-5", "train.num_steps=-5 must be >= 1"),
    ("train.batch_size=0", "train.batch_size=0 must be >= 1"),
    ("train.batch_size=-64", "train.batch_size=-64 must be >= 1"),
    ("train.learning_rate=0", "train.learning_rate=0.0 must be > 0"),
    ("train.learning_rate=-0.1", "train.learning_rate=-0.1 must be > 0"),
    ("train.learning_rate=nan", "train.learning_rate=nan must be finite"),
    ("train.learning_rate=inf", "train.learning_rate=inf must be finite"),
    ("train.warmup_steps=-1", "train.warmup_steps=-1 must be >= 0"),
    ("train.final_lr_fraction=1.5", "train.final_lr_fraction=1.5 must be >= 0 and <= 1"),
    ("train.weight_decay=-0.0001", "train.weight_decay=-0.0001 must be >= 0"),
    ("train.embedding_decay=-1", "train.embedding_decay=-1.0 must be >= 0"),
    ("train.embedding_l2=-0.1", "train.embedding_l2=-0.1 must be >= 0"),
    ("train.embedding_table_l2=-0.1", "train.embedding_table_l2=-0.1 must be >= 0"),
    ("train.beta1=1", "train.beta1=1.0 must be >= 0 and < 1"),
    ("train.beta2=-0.1", "train.beta2=-0.1 must be >= 0 and < 1"),
    ("train.grad_clip_norm=0", "train.grad_clip_norm=0.0 must be > 0"),
    ("train.log_every=0", "train.log_every=0 must be >= 1"),
    ("train.early_stopping.patience=-1", "train.early_stopping.patience=-1 must be >= 0"),
    ("train.early_stopping.min_delta=-0.01", "train.early_stopping.min_delta=-0.01 must be >= 0"),
    ("eval.every_steps=0", "eval.every_steps=0 must be >= 1"),
    ("eval.batch_size=0", "eval.batch_size=0 must be >= 1"),
    ("eval.ndcg_k=0", "eval.ndcg_k=0 must be >= 1"),
    ("eval.ks=()", "eval.ks=() must not be empty"),
    ("eval.ks=(10,0)", "eval.ks=(10, 0) has [0]: every entry must be an integer >= 1"),
    ("eval.split=", "eval.split='' must be a non-empty string"),
    ("eval.final_split=", "eval.final_split='' must be a non-empty string"),
    ("checkpoint.every_steps=0", "checkpoint.every_steps=0 must be >= 1"),
    ("checkpoint.keep=0", "checkpoint.keep=0 must be >= 1"),
    ("checkpoint.keep_best=0", "checkpoint.keep_best=0 must be >= 1"),
    ("checkpoint.best_mode=maximum", "checkpoint.best_mode='maximum' must be one of '', 'min', 'max'"),
    ("checkpoint.best_mode=min", "checkpoint.best_mode='min' would keep the checkpoint of the lowest auc, the worst "
     "one (auc is better higher); leave checkpoint.best_mode empty (the metric's own direction) or set it to 'max'"),
    ("data.data_dir=", "data.data_dir='' must be a non-empty string"),
    ("features.categorical=('brand','brand')", "features.categorical=('brand', 'brand') lists 'brand' more than "
     "once"),
    ("features.numeric=('price','price')", "features.numeric=('price', 'price') lists 'price' more than once"),
    ("eval.ks=(5,10,5)", "eval.ks=(5, 10, 5) lists 5 more than once"),
    ("parallel.num_devices=0", "parallel.num_devices=0 must be >= 1 (or -1)"),
    ("parallel.num_devices=-2", "parallel.num_devices=-2 must be >= 1 (or -1)"),
    ("seed=-1", "seed=-1 must be >= 0"),
    ("features.history_length=-1", "features.history_length=-1 must be >= 0"),
    ("features.text_max_length=0", "features.text_max_length=0 must be >= 1"),
    ("features.query_max_length=0", "features.query_max_length=0 must be >= 1"),
    ("features.min_count=0", "features.min_count=0 must be >= 1"),
    ("model.embed_dim=0", "model.embed_dim=0 must be >= 1"),
    ("model.cf_dim=-1", "model.cf_dim=-1 must be >= 0"),
    ("model.mlp=(16,0)", "model.mlp=(16, 0) has [0]: every entry must be an integer >= 1"),
    ("model.mlp_dropout=1", "model.mlp_dropout=1.0 must be >= 0 and < 1"),
    ("model.embedding_init_std=-1", "model.embedding_init_std=-1.0 must be >= 0"),
    ("model.text.bert.hidden_size=0", "model.text.bert.hidden_size=0 must be >= 1"),
    ("model.text.bert.intermediate_size=0", "model.text.bert.intermediate_size=0 must be >= 1"),
    ("model.text.bert.num_heads=0", "model.text.bert.num_heads=0 must be >= 1"),
    ("model.text.bert.num_layers=0", "model.text.bert.num_layers=0 must be >= 1"),
    ("model.text.trainable_layers=-1", "model.text.trainable_layers=-1 must be >= 0"),
    ("model.text.bert.num_heads=3",
     "model.text.bert.hidden_size=16 must be a multiple of model.text.bert.num_heads=3"),
]

METRICS = ["aucc", "ndcg@11", "auc/hot", "rmse", "hit@10", "auc@10"]

# (override, a phrase of the error line): names the config strings refer to, and values of the wrong type.
NAMES_AND_TYPES = [
    ("task=ctrr", "unknown task 'ctrr'; did you mean 'ctr'?"),
    ("model.name=nope", "unknown model 'nope'"),
    ("model.cross=fmm", "unknown feature cross 'fmm'; did you mean 'fm'"),
    ("model.history=gru", "unknown history encoder 'gru'"),
    ("model.text.mode=lorra", "unknown model.text.mode 'lorra'; did you mean 'lora'?"),
    ("data.name=nope", "unknown dataset 'nope'"),
    ("train.num_steps=ten", "flag --config.train.num_steps=ten: invalid literal for int()"),
    ("train.learning_rate=fast", "flag --config.train.learning_rate=fast"),
    ("model.use_text=maybe", "flag --config.model.use_text=maybe: ('Non-boolean argument to boolean flag'"),
    ("train.learning_rat=0.1", "unknown config key 'train.learning_rat': did you mean train.learning_rate"),
    ("model.cross_options.low_rnak=8", "unknown config key 'model.cross_options.low_rnak': did you mean "
     "model.cross_options.low_rank"),
    ("task=retrieval", "task='retrieval' needs a model with"),
    # Dict-valued options (rec_jax/config/dict_overrides.py): a whole dict, or one entry by its key.
    ("train.lr_multipliers=[1]", "--config.train.lr_multipliers=[1]: train.lr_multipliers is a dict; give it as "
     "JSON"),
    ("train.lr_multipliers.^text/=fast", "--config.train.lr_multipliers.^text/=fast: expected a number, as the "
     "entry it replaces (0.5)"),
    ("train.lr_multipliers.(=1", "train.lr_multipliers['(']: not a regular expression (missing ), unterminated"),
    ("train.lr_multipliers={\"^cf/\": -0.1}", "train.lr_multipliers['^cf/']=-0.1 must be >= 0"),
    ("train.lr_multipliers.^cf/=nan", "train.lr_multipliers['^cf/']=nan must be finite"),
    ("features.hash_buckets.nope=10", "features.hash_buckets['nope']: 'nope' is not a column the features encode"),
    ("features.hash_buckets.brand=-1", "features.hash_buckets['brand']=-1 must be >= 0 (0: a fitted vocabulary)"),
    ("features.hash_buckets.brand=many", "features.hash_buckets['brand']='many' must be an integer, not str"),
    ("data.options.variant=1m", "unknown config key 'data.options.variant'"),   # the synthetic shop has none
]


def _untouched(workdir) -> bool:
  return not os.path.exists(workdir) or not os.listdir(workdir)


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
  monkeypatch.chdir(ROOT)


@pytest.mark.parametrize("override,expected", RANGE, ids=[o.split("=")[0] + "=" + o.split("=")[1] for o, _ in RANGE])
def test_out_of_range_value(override, expected, tmp_path):
  workdir = tmp_path / "run"
  assert invoke([SMOKE, f"--workdir={workdir}", f"--config.{override}"]) == (1, f"error: {expected}")
  assert _untouched(workdir)


def test_a_best_mode_against_the_metric_direction(tmp_path):
  code, line = invoke([SMOKE, f"--workdir={tmp_path / 'run'}", "--config.checkpoint.best_metric=logloss",
                       "--config.checkpoint.best_mode=max"])
  assert (code, line) == (1, "error: checkpoint.best_mode='max' would keep the checkpoint of the highest logloss, the "
                             "worst one (logloss is better lower); leave checkpoint.best_mode empty (the metric's own "
                             "direction) or set it to 'min'")
  assert _untouched(tmp_path / "run")


@pytest.mark.parametrize("metric", METRICS)
def test_best_metric_the_task_does_not_report(metric, tmp_path):
  code, line = invoke([SMOKE, f"--workdir={tmp_path / 'run'}", f"--config.checkpoint.best_metric={metric}"])
  assert code == 1 and line.startswith(f"error: checkpoint.best_metric={metric!r} is not a metric task='ctr' "
                                       "reports"), line
  assert _untouched(tmp_path / "run")


@pytest.mark.parametrize("metric", ["auc", "auc/cold", "gauc/warm", "logloss", "ndcg@10", "oracle_auc"])
def test_best_metrics_the_task_reports_pass_the_check(metric, smoke_config):
  from rec_jax.config.checks import check_config
  smoke_config.checkpoint.best_metric = metric
  check_config(smoke_config)


@pytest.mark.parametrize("override,phrase", NAMES_AND_TYPES, ids=[o for o, _ in NAMES_AND_TYPES])
def test_unknown_names_and_wrong_types(override, phrase, tmp_path):
  code, line = invoke([SMOKE, f"--workdir={tmp_path / 'run'}", f"--config.{override}"])
  assert code == 1 and line.startswith("error: ") and "\n" not in line, line
  assert phrase in line, line
  assert _untouched(tmp_path / "run")


def test_several_problems_are_one_line_listing_each(tmp_path):
  code, line = invoke([SMOKE, f"--workdir={tmp_path / 'run'}", "--config.train.batch_size=0",
                       "--config.eval.every_steps=0"])
  assert (code, line) == (1, "error: train.batch_size=0 must be >= 1; eval.every_steps=0 must be >= 1")


def test_command_line_errors(tmp_path):
  workdir = f"--workdir={tmp_path / 'run'}"
  assert invoke(["--config=configs/synthetic.py:tiny", workdir]) == (
      1, "error: configs/synthetic.py:tiny: unknown preset(s) ['tiny'] for configs/synthetic.py; valid: smoke, "
      "seed=N")
  assert invoke(["--config=configs/nope.py", workdir]) == (1, "error: config file 'configs/nope.py' does not exist")
  assert invoke([SMOKE]) == (1, "error: usage: --config=FILE[:preset] --workdir=DIR [--config.a.b=v ...]")
  not_a_config = tmp_path / "empty.py"
  not_a_config.write_text("x = 1\n")
  assert invoke([f"--config={not_a_config}", workdir]) == (
      1, f"error: {not_a_config}: config file {str(not_a_config)!r} defines no get_config(arg)")


def test_feature_columns_the_data_lacks(smoke_config, tmp_path):
  workdir = tmp_path / "run"
  code, line = invoke([SMOKE, f"--workdir={workdir}", f"--config.data.data_dir={smoke_config.data.data_dir}",
                       "--config.features.query=nope"])
  assert code == 1 and line.startswith("error: features.query='nope': not a column of the data; its columns: "
                                       "age_bucket, brand, category"), line
  assert not os.path.exists(workdir / "checkpoints" / "latest" / "20")


@pytest.mark.parametrize("override,expected", [
    ("features.numeric=('price','brand')", "features.numeric='brand': not a number column (the label and "
     "features.numeric must be numbers); the data's number columns: "),
    ("features.label=brand", "features.label='brand': not a number column"),
    ("features.label=price", "task='ctr' learns a 0/1 label, but features.label='price' has other values in the "
     "train split ("),
], ids=["numeric-text-column", "text-label", "ctr-price-label"])
def test_feature_columns_of_the_wrong_kind(override, expected, smoke_config, tmp_path):
  """Found after the data is read, before any training: a text column as a number (it was a ValueError traceback
  from numpy) and a label a click model cannot learn (it trained to NaN and blamed the learning rate)."""
  workdir = tmp_path / "run"
  code, line = invoke([SMOKE, f"--workdir={workdir}", f"--config.data.data_dir={smoke_config.data.data_dir}",
                       f"--config.{override}"])
  assert code == 1 and line.startswith(f"error: {expected}") and "\n" not in line, line
  assert not os.path.exists(workdir / "checkpoints" / "latest")
