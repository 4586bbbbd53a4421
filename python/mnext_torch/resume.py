"""What a resumed run may change, as src/train/resume.ts rules for mnext train (and timm's train.py on --resume):
the schedule's length (epochs, cooldown_epochs; the LR at each epoch then follows the new schedule from where the
run is), where the data lives (the same classes), and how the run executes (workers, replicas, threads, backend, output).
Anything else would make the checkpoint's optimiser state, augmentation stream or model something the run never
was, so a difference is refused with every key named, in mnext's sentence.
"""
import json
import os

from .config import KEYS, ConfigError, default_config
from .data import DataError

SCHEDULE_KEYS = ('epochs', 'cooldown_epochs')
EXECUTION_KEYS = ('resume', 'workers', 'replicas', 'threads', 'backend', 'output')
# Checked against the run's classes once the dataset is open (check_run_classes).
DATA_KEYS = ('data',)
FREE_KEYS = {*SCHEDULE_KEYS, *DATA_KEYS, *EXECUTION_KEYS}


def same_value(key, run, given):
    """Equal as values (a flag's 1.0 is args.yaml's 1); a path key compares where it points, not how it is spelled."""
    if key == 'initial_checkpoint' and run and given:
        return os.path.abspath(run) == os.path.abspath(given)
    return run == given


def shown(value):
    """As mnext shows a value in the refusal: a string as given, anything else as JSON."""
    return value if isinstance(value, str) and value != '' else json.dumps(value, separators=(',', ':'))


def continued_config(saved, requested):
    """The config a resumed run continues with: `requested` (the run's own config with what was given on top, see
    resolve_config) once every key it changes is one a resume may change."""
    run = {**default_config(), **saved}
    changed = [k for k in KEYS if k not in FREE_KEYS and not same_value(k, run[k], requested[k])]
    if changed:
        listed = ', '.join(f'{k} (run: {shown(run[k])}, given: {shown(requested[k])})' for k in changed)
        free = [*SCHEDULE_KEYS, *DATA_KEYS, *(k for k in EXECUTION_KEYS if k != 'resume')]
        raise ConfigError(f"resume: {listed} {'differs' if len(changed) == 1 else 'differ'} from the run's args.yaml; "
                          f"a resumed run may change only {', '.join(free)}")
    # Equal, or equal where they point: args.yaml keeps the run's spelling.
    return {k: requested[k] if k in FREE_KEYS else run[k] for k in KEYS}


def check_run_classes(run_classes, data_classes, data):
    """A resumed run's data (moved or not) must have the classes the run was trained on."""
    missing = [c for c in run_classes if c not in data_classes]
    extra = [c for c in data_classes if c not in run_classes]
    if not missing and not extra:
        return
    difference = [f"missing {', '.join(missing)}" if missing else '', f"not in the run: {', '.join(extra)}" if extra else '']
    raise DataError(f"data: {data} does not have the run's classes (classes.txt): {'; '.join(filter(None, difference))}")
