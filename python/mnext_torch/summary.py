"""summary.csv as mnext train writes it (src/train/summary.ts): timm's columns plus lr and img/s, numbers printed
as JavaScript prints them, rewritten atomically from every row after each epoch."""
from decimal import Decimal

from .files import write_text_atomic

HEADER = 'epoch,train_loss,eval_loss,eval_top1,eval_top5,lr,img/s'
COLUMNS = ('epoch', 'train_loss', 'eval_loss', 'eval_top1', 'eval_top5', 'lr', 'img_per_sec')


def js_number(x):
    """JavaScript's Number#toString: shortest round-trip digits, fixed notation for 1e-7 <= |x| < 1e21."""
    if x == 0:
        return '0'
    sign, digits, exponent = Decimal(repr(float(x))).normalize().as_tuple()
    s = ''.join(map(str, digits))
    n = len(s) + exponent  # x = 0.<s> × 10^n
    prefix = '-' if sign else ''
    if len(s) <= n <= 21:
        return prefix + s + '0' * (n - len(s))
    if 0 < n <= 21:
        return f'{prefix}{s[:n]}.{s[n:]}'
    if -6 < n <= 0:
        return f'{prefix}0.{"0" * -n}{s}'
    mantissa = s[0] + (f'.{s[1:]}' if len(s) > 1 else '')
    return f"{prefix}{mantissa}e{'+' if n - 1 > 0 else '-'}{abs(n - 1)}"


def cell(key, value):
    if key == 'epoch':
        return str(value)
    if key == 'img_per_sec':
        return f'{value:.1f}'
    return js_number(float(f'{value:.8g}'))


def summary_csv(rows):
    return '\n'.join([HEADER] + [','.join(cell(k, row[k]) for k in COLUMNS) for row in rows]) + '\n'


def write_summary(path, rows):
    write_text_atomic(path, summary_csv(rows))
