"""mnext train's configuration (src/train/config.ts is the schema): every key of timm's train.py namespace with
mnext's default, a YAML file that overrides the defaults, and `--kebab-case` flags that override the file. Each
value is checked on the way in; errors name the key, the expectation and the value, worded as mnext words them.
"""
import json
import math

import yaml

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
DEFAULT_CROP_PCT = 0.875
DEFAULT_INTERPOLATION = 'bicubic'
OPTIMIZERS = ('sgd', 'momentum', 'nesterov', 'rmsproptf', 'adamw')
SCHEDULES = ('cosine', 'step')


class ConfigError(ValueError):
    """Bad usage or configuration: the message is the one sentence the user sees (exit code 2)."""


class Expected(Exception):
    """A parser's expectation that a raw value failed."""


def as_number(raw):
    if isinstance(raw, bool):
        return math.nan
    if isinstance(raw, (int, float)):
        return raw
    if isinstance(raw, str) and raw.strip() != '':
        try:
            return float(raw)
        except ValueError:
            return math.nan
    return math.nan


def number_in(what, ok, integer=False):
    def parse(raw):
        n = as_number(raw)
        if not math.isfinite(n) or not ok(n) or (integer and n != int(n)):
            raise Expected(what)
        return int(n) if integer else n
    return parse


positive = number_in('a positive number', lambda n: n > 0)
non_negative = number_in('a non-negative number', lambda n: n >= 0)
positive_int = number_in('a positive integer', lambda n: n > 0, True)
non_negative_int = number_in('a non-negative integer', lambda n: n >= 0, True)
probability = number_in('a number in [0, 1]', lambda n: 0 <= n <= 1)
below_one = number_in('a number in [0, 1)', lambda n: 0 <= n < 1)
fraction = number_in('a number in (0, 1]', lambda n: 0 < n <= 1)
any_number = number_in('a number', lambda n: True)


def nullable(parser):
    return lambda raw: None if raw is None or raw in ('null', '') else parser(raw)


def one_of(values):
    def parse(raw):
        if isinstance(raw, str) and raw.lower() in values:
            return raw.lower()
        raise Expected(f"one of {', '.join(values)}")
    return parse


def text(raw):
    if isinstance(raw, str):
        return raw
    if raw is None:
        return ''
    raise Expected('a string')


def boolean(raw):
    if isinstance(raw, bool):
        return raw
    if raw in ('true', '1', 'yes'):
        return True
    if raw in ('false', '0', 'no'):
        return False
    raise Expected('true or false')


def number_list(length, element, what):
    def parse(raw):
        items = [s.strip() for s in raw.split(',')] if isinstance(raw, str) else raw
        message = f'{length} {what} (comma-separated on the command line)'
        if not isinstance(items, list) or len(items) != length:
            raise Expected(message)
        try:
            return [element(item) for item in items]
        except Expected:
            raise Expected(message) from None
    return parse


# key: (parser, default, help) — the keys, order and defaults of src/train/config.ts's CONFIG_SCHEMA.
SCHEMA = {
    'data': (text, '', 'dataset folder (train/ and val/ of class folders)'),
    'output': (text, './output', 'parent folder of the run directory'),
    'model': (text, 'mobilenext', 'model name (see `mnext models`)'),
    'width': (nullable(positive), None, "width multiplier (default: the model name's)"),
    'tensor_multiplier': (positive_int, 1, 'partial identity divisor k of MobileNeXt'),
    'num_classes': (nullable(positive_int), None, "classes (default: the dataset's)"),
    'img_size': (positive_int, 224, 'input image size'),
    'batch_size': (positive_int, 32, 'batch size'),
    'epochs': (positive_int, 200, 'epochs (cosine: before the cooldown)'),
    'opt': (one_of(OPTIMIZERS), 'sgd', f"optimizer: {', '.join(OPTIMIZERS)} (sgd = Nesterov)"),
    'opt_eps': (positive, 1e-8, 'optimizer epsilon (RMSpropTF, AdamW)'),
    'momentum': (below_one, 0.9, 'momentum'),
    'weight_decay': (non_negative, 1e-4, 'weight decay (not on BN parameters and biases)'),
    'lr': (positive, 0.01, 'learning rate'),
    'sched': (one_of(SCHEDULES), 'step', f"LR schedule: {', '.join(SCHEDULES)}"),
    'sched_on_updates': (boolean, False, 'update the LR every step instead of every epoch'),
    'warmup_epochs': (non_negative_int, 3, 'linear warmup epochs'),
    'warmup_lr': (non_negative, 1e-4, 'warmup start LR'),
    'min_lr': (non_negative, 1e-5, 'cosine floor LR'),
    'cooldown_epochs': (non_negative_int, 0, "epochs at min_lr after the cosine (timm's default today; the 2020 recipes set 10)"),
    'decay_epochs': (positive, 30, 'step schedule: epochs between decays'),
    'decay_rate': (positive, 0.1, 'step schedule: decay factor'),
    'smoothing': (below_one, 0.1, 'label smoothing'),
    'drop': (nullable(below_one), None, "classifier dropout (default: the model's, 0.2)"),
    'drop_connect': (nullable(below_one), None, 'drop-connect rate (EfficientNet-style models)'),
    'scale': (number_list(2, fraction, 'numbers in (0, 1]'), [0.08, 1], 'RandomResizedCrop area range'),
    'ratio': (number_list(2, positive, 'positive numbers'), [3 / 4, 4 / 3], 'RandomResizedCrop aspect range'),
    'hflip': (probability, 0.5, 'horizontal flip probability'),
    'color_jitter': (non_negative, 0.4, 'colour jitter strength'),
    'interpolation': (one_of(('random', 'bilinear', 'bicubic')), 'random',
                      'train resize interpolation (eval: bicubic unless bilinear)'),
    'reprob': (probability, 0, 'random erasing probability'),
    'remode': (one_of(('const', 'rand', 'pixel')), 'const', 'random erasing fill'),
    'mixup': (non_negative, 0, 'mixup alpha (0 = off)'),
    'model_ema': (boolean, False, 'keep a model EMA (drives best checkpoint and summary)'),
    'model_ema_decay': (below_one, 0.9998, 'EMA decay'),
    'crop_pct': (fraction, DEFAULT_CROP_PCT, 'eval centre crop fraction'),
    'mean': (number_list(3, any_number, 'numbers'), IMAGENET_MEAN, 'normalisation mean (0..1 scale)'),
    'std': (number_list(3, positive, 'positive numbers'), IMAGENET_STD, 'normalisation std (0..1 scale)'),
    'seed': (non_negative_int, 42, 'random seed'),
    'workers': (positive_int, 4, 'DataLoader worker processes (mnext: image decodes in flight)'),
    'replicas': (positive_int, 1, 'mnext train\'s data-parallel worker threads; here only 1 (use torchrun)'),
    'threads': (non_negative_int, 0, "mnext train's intra-op threads per wasm engine; not used here (torch.set_num_threads)"),
    'resume': (text, '', 'run directory or checkpoint to continue from'),
    'initial_checkpoint': (text, '', 'fine-tuning start: a PyTorch state_dict or training checkpoint (timm\'s --initial-checkpoint)'),
    'use_ema': (boolean, False, 'initial_checkpoint: start from its EMA weights (state_dict_ema)'),
    'freeze_backbone': (boolean, False, 'train the classifier only (mnext train only)'),
    'backend': (text, '', 'mnext train\'s tfjs backend; not used here (leave it unset)'),
    'synthetic': (boolean, False, 'generate a synthetic dataset at `data` when it is missing (mnext train only)'),
    'synthetic_per_class': (positive_int, 40, 'synthetic: training images per class'),
    'synthetic_size': (positive_int, 40, 'synthetic: image side'),
}

KEYS = list(SCHEMA)


def default_config():
    return {key: (list(default) if isinstance(default, list) else default) for key, (_, default, _) in SCHEMA.items()}


def kebab(key):
    return key.replace('_', '-')


def describe(raw):
    """The value as mnext shows it: strings quoted, anything else as JSON."""
    return f'"{raw}"' if isinstance(raw, str) else json.dumps(raw, separators=(',', ':'), default=str)


def edit_distance(a, b):
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        previous, row[0] = row[0], i
        for j in range(1, len(b) + 1):
            current = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] != b[j - 1]))
            previous = current
    return row[len(b)]


def closest_key(key):
    best = min(KEYS, key=lambda k: edit_distance(key, k))
    return best if edit_distance(key, best) <= 3 else None


def set_key(config, raw_key, raw, source):
    """Sets one key from a raw value, or raises `<key>: expected <what>, got <value>` (source names file or flag)."""
    key = raw_key.replace('-', '_')
    if key not in SCHEMA:
        hint = closest_key(key)
        raise ConfigError(f"{source}: unknown key '{raw_key}'" + (f" (did you mean '{hint}'?)" if hint else ''))
    try:
        config[key] = SCHEMA[key][0](raw)
    except Expected as error:
        where = '' if source == 'command line' else f' (in {source})'
        raise ConfigError(f'{key}: expected {error}, got {describe(raw)}{where}') from None


def read_config_file(path):
    try:
        with open(path) as f:
            parsed = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f'config file {path} does not exist') from None
    except yaml.YAMLError as error:
        raise ConfigError(f'{path} is not valid YAML: {str(error).splitlines()[0]}') from None
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise ConfigError(f'{path}: expected a mapping of config keys')
    return parsed


def resolve_config(file=None, flags=None):
    """Defaults, then the YAML file's keys, then the command line's (raw strings keyed snake or kebab case). With
    `resume`, the run's own config takes the defaults' place, so only what is given differs from it (train()
    decides which differences a resume accepts, see resume.py)."""
    file_keys = read_config_file(file) if file else {}

    def layered(base):
        config = dict(base)
        for key, raw in file_keys.items():
            set_key(config, str(key), raw, file)
        for key, raw in (flags or {}).items():
            set_key(config, key, raw, 'command line')
        return config

    config = layered(default_config())
    if config['resume']:
        from .checkpoint import saved_run_config  # torch is loaded only when a run is resumed
        saved = {k: v for k, v in saved_run_config(config['resume']).items() if k in SCHEMA}
        # Keys added since the run was made take their defaults.
        config = layered({**default_config(), **saved, 'resume': config['resume']})
    check_consistency(config)
    return config


def check_consistency(config):
    if config['scale'][0] > config['scale'][1]:
        raise ConfigError(f"scale: expected min <= max, got [{', '.join(map(str, config['scale']))}]")
    if config['ratio'][0] > config['ratio'][1]:
        raise ConfigError(f"ratio: expected min <= max, got [{', '.join(map(str, config['ratio']))}]")
    for key in ('use_ema', 'freeze_backbone'):
        if config[key] and config['initial_checkpoint'] == '':
            raise ConfigError(f'{key}: applies to the weights of initial_checkpoint, which is not given')
    if config['warmup_epochs'] > 0 and config['warmup_epochs'] >= config['epochs'] and config['sched'] == 'cosine':
        raise ConfigError(f"warmup_epochs: expected fewer than epochs ({config['epochs']}), got {config['warmup_epochs']}")
    check_supported(config)


def check_supported(config):
    """Keys of mnext's own engine that have no PyTorch meaning: refused when set, never silently ignored."""
    if config['replicas'] != 1:
        raise ConfigError(f"replicas: mnext train's worker-thread data parallelism; the PyTorch trainer takes 1 "
                          f"(run data-parallel under torchrun instead), got {config['replicas']}")
    if config['freeze_backbone']:
        raise ConfigError("freeze_backbone: training the classifier alone is mnext train's; the PyTorch trainer trains "
                          "every layer from initial_checkpoint: set it to false, got true")
    if config['backend'] != '':
        raise ConfigError(f"backend: a tfjs backend of mnext train; the PyTorch trainer runs on torch "
                          f"(cuda when available, else cpu): leave it unset, got \"{config['backend']}\"")


def eval_interpolation(config):
    """A run's eval resize filter: its own when fixed, bicubic (timm's eval default) when training picks at random."""
    return 'bilinear' if config['interpolation'] == 'bilinear' else DEFAULT_INTERPOLATION


def config_to_yaml(config):
    """args.yaml: every key in schema order."""
    return yaml.safe_dump({key: config[key] for key in KEYS}, sort_keys=False)
