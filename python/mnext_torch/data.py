"""Data as mnext train reads it (src/data/dataset.ts) and timm's transforms through torchvision (spec §5).

Datasets: `<root>/train|val|validation/<class>/...`, a single folder of class folders (used for both), or a
`path,label` list file; class names sort like torchvision's ImageFolder. Train transform: RandomResizedCrop with
scale/ratio and bilinear, bicubic or per-image random interpolation, horizontal flip, ColorJitter(b, c, s), then
normalisation and timm's RandomErasing. Eval: Resize(floor(size / crop_pct)) + CenterCrop(size).

The loaders draw their order from a sampler that knows the process's rank and the world size (`Replicas`), so a
data-parallel launch only has to fill those in.
"""
import math
import os
import re
from dataclasses import dataclass

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler
from torchvision import transforms
from torchvision.transforms import InterpolationMode

from .config import ConfigError, eval_interpolation

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tif', '.tiff')
LIST_ROW = re.compile(r'^(.*?)\s*[,\t ]\s*([^,\t ]+)$')
INTERPOLATIONS = {'bilinear': InterpolationMode.BILINEAR, 'bicubic': InterpolationMode.BICUBIC}


class DataError(ValueError):
    """The dataset is missing or unusable: the message is the one sentence the user sees."""


class ImageError(DataError):
    """One image cannot be read: met by the one process whose share holds it (the others see the same dataset)."""


@dataclass
class ImageList:
    root: str
    classes: list
    samples: list  # (path, label)


def is_image(name):
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def visible_dirs(root):
    return sorted(n for n in os.listdir(root) if not n.startswith('.') and os.path.isdir(os.path.join(root, n)))


def scan_class_folders(root):
    classes = visible_dirs(root)
    if not classes:
        raise DataError(f'{root} holds no class folders; expected {root}/<class>/<image files>')
    samples, empty = [], []
    for label, name in enumerate(classes):
        found = []
        for folder, dirs, files in os.walk(os.path.join(root, name), followlinks=True):
            dirs.sort()
            found += [(os.path.join(folder, f), label) for f in sorted(files) if is_image(f) and not f.startswith('.')]
        samples += found
        if not found:
            empty.append(name)
    if empty:
        raise DataError(f"{len(empty)} class folder(s) in {root} hold no images ({' '.join(IMAGE_EXTENSIONS)}): {', '.join(empty)}")
    return ImageList(root, classes, samples)


def read_list_file(path):
    """`path,label` per line (comma, tab or space), paths relative to the list's folder, optional header."""
    base = os.path.dirname(path)
    rows = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            match = LIST_ROW.match(line)
            if match is None:
                raise DataError(f'{path} line {number}: expected "path,label", got "{line}"')
            rows.append((match.group(1).strip('"'), match.group(2).strip('"')))
    if rows and rows[0][0].lower() == 'path' and not rows[0][1].isdigit():
        rows.pop(0)
    if not rows:
        raise DataError(f'{path} lists no images')
    numeric = all(label.isdigit() for _, label in rows)
    classes = numeric_class_names(base, [int(l) for _, l in rows]) if numeric else sorted({l for _, l in rows})
    index = {c: i for i, c in enumerate(classes)}
    samples = [(p if os.path.isabs(p) else os.path.join(base, p), int(l) if numeric else index[l]) for p, l in rows]
    return ImageList(path, classes, samples)


def numeric_class_names(base, labels):
    count = max(labels) + 1
    names_file = os.path.join(base, 'classes.txt')
    if not os.path.isfile(names_file):
        return [str(i) for i in range(count)]
    with open(names_file) as f:
        names = [line.strip() for line in f if line.strip()]
    if len(names) < count:
        raise DataError(f'{names_file} names {len(names)} classes but the list uses label {count - 1}')
    return names


def split_folder(root, split):
    names = ['train'] if split == 'train' else ['val', 'validation']
    return next((os.path.join(root, n) for n in names if os.path.isdir(os.path.join(root, n))), None)


def open_dataset(path, split):
    root = os.path.abspath(path)
    if not os.path.exists(root):
        raise DataError(f'dataset {path} does not exist')
    if os.path.isfile(root):
        return read_list_file(root)
    if split_folder(root, 'train') is None and split_folder(root, 'val') is None:
        return scan_class_folders(root)
    folder = split_folder(root, split)
    if folder is None:
        expected = 'val/ (or validation/)' if split == 'val' else 'train/'
        raise DataError(f"{path} has no {expected} folder; expected {root}/{'val' if split == 'val' else 'train'}/<class>/<image files>")
    return scan_class_folders(folder)


def open_splits(config):
    """The train and val lists, val labels numbered by the train classes (every val class must exist in train)."""
    data = config['data']
    if data == '':
        raise ConfigError('data: expected a dataset folder (--data DIR or `data:` in the config)')
    if not os.path.exists(data) and config['synthetic']:
        raise DataError(f'dataset {data} does not exist, and the PyTorch trainer does not generate data (synthetic: true): '
                        f"make it once with `npx mnext data synthetic --out {data} --classes {config['num_classes'] or 10} "
                        f"--per-class {config['synthetic_per_class']} --size {config['synthetic_size']}`")
    train, val = open_dataset(data, 'train'), open_dataset(data, 'val')
    index = {c: i for i, c in enumerate(train.classes)}
    missing = [c for c in val.classes if c not in index]
    if missing:
        raise DataError(f"validation classes missing from the training set {train.root}: {', '.join(missing[:10])}")
    val.samples = [(p, index[val.classes[label]]) for p, label in val.samples]
    val.classes = list(train.classes)
    return train, val


def load_rgb(path):
    """PIL RGB, grey replicated and alpha dropped, as torchvision's default loader and mnext's decoder do."""
    try:
        with open(path, 'rb') as f:
            return Image.open(f).convert('RGB')
    except OSError as error:
        raise ImageError(f'{path}: cannot decode the image ({error})') from None


class ImageDataset(Dataset):
    def __init__(self, images, transform):
        self.samples = images.samples
        self.transform = transform

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        return self.transform(load_rgb(path)), label


class RandomResizedCropAndInterpolation(transforms.RandomResizedCrop):
    """timm's RandomResizedCropAndInterpolation: with interpolation 'random', bilinear or bicubic per image,
    drawn after the crop (the order mnext draws in: crop, interpolation, flip, jitter)."""

    def __init__(self, size, scale, ratio, interpolation):
        super().__init__(size, scale=scale, ratio=ratio)
        self.choices = list(INTERPOLATIONS.values()) if interpolation == 'random' else [INTERPOLATIONS[interpolation]]

    def forward(self, img):
        top, left, height, width = self.get_params(img, self.scale, self.ratio)
        choice = self.choices[int(torch.randint(len(self.choices), ()))] if len(self.choices) > 1 else self.choices[0]
        return transforms.functional.resized_crop(img, top, left, height, width, self.size, choice)


class RandomErasing:
    """timm's RandomErasing on a normalised CHW tensor: with probability p one box of U(0.02, 1/3) of the area and
    log-uniform aspect in [0.3, 1/0.3] (10 attempts to fit), filled with 0 (const), per-channel N(0, 1) (rand) or
    per-pixel N(0, 1) (pixel)."""

    def __init__(self, probability, mode):
        self.probability = probability
        self.mode = mode

    def __call__(self, x):
        if torch.rand(()) > self.probability:
            return x
        channels, height, width = x.shape
        log_aspect = (math.log(0.3), math.log(1 / 0.3))
        for _ in range(10):
            area = float(torch.empty(()).uniform_(0.02, 1 / 3)) * height * width
            aspect = math.exp(float(torch.empty(()).uniform_(*log_aspect)))
            h, w = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if w < width and h < height:
                top = int(torch.randint(0, height - h + 1, ()))
                left = int(torch.randint(0, width - w + 1, ()))
                x[:, top:top + h, left:left + w] = self.fill(channels, h, w)
                return x
        return x

    def fill(self, channels, h, w):
        if self.mode == 'pixel':
            return torch.randn(channels, h, w)
        if self.mode == 'rand':
            return torch.randn(channels, 1, 1)
        return torch.zeros(channels, 1, 1)


def train_transform(config):
    steps = [RandomResizedCropAndInterpolation(config['img_size'], tuple(config['scale']), tuple(config['ratio']),
                                               config['interpolation'])]
    if config['hflip'] > 0:
        steps.append(transforms.RandomHorizontalFlip(config['hflip']))
    if config['color_jitter'] > 0:
        steps.append(transforms.ColorJitter(*(config['color_jitter'],) * 3))
    steps += [transforms.ToTensor(), transforms.Normalize(config['mean'], config['std'])]
    if config['reprob'] > 0:
        steps.append(RandomErasing(config['reprob'], config['remode']))
    return transforms.Compose(steps)


def eval_transform(config):
    size = config['img_size']
    return transforms.Compose([
        transforms.Resize(math.floor(size / config['crop_pct']), INTERPOLATIONS[eval_interpolation(config)]),
        transforms.CenterCrop(size),
        transforms.ToTensor(),
        transforms.Normalize(config['mean'], config['std']),
    ])


@dataclass(frozen=True)
class Replicas:
    """This process's place among data-parallel processes; 1 process unless a launcher says otherwise."""
    rank: int = 0
    world_size: int = 1

    @property
    def is_primary(self):
        return self.rank == 0

    def per_process_batch(self, batch_size):
        """`batch_size` is global, as in mnext: every process takes an equal share."""
        check_batch_split(batch_size, self.world_size)
        return batch_size // self.world_size


def check_batch_split(batch_size, world_size):
    """Refused before any process group or data is touched when the processes cannot share the global batch."""
    if batch_size % world_size != 0:
        raise ConfigError(f'batch_size: {batch_size} is the global batch and does not split over the {world_size} processes '
                          f'of this launch (torchrun --nproc_per_node x nodes); use a multiple of {world_size}')


class ShardSampler(Sampler):
    """Evaluation order for one process: every world_size-th image from its rank, nothing padded or repeated (the
    DistributedSampler pads to equal shards, which would count some images twice in the top-1)."""

    def __init__(self, length, replicas):
        self.indices = list(range(replicas.rank, length, replicas.world_size))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


def make_loader(dataset, config, replicas, train):
    """Train: shuffled per epoch (`sampler.set_epoch`), the global order dealt out rank by rank (DistributedSampler;
    no image repeated to even the shares), last partial batch dropped. Eval: every image once, in order, sharded over the processes."""
    sampler = DistributedSampler(dataset, num_replicas=replicas.world_size, rank=replicas.rank, shuffle=True,
                                 seed=config['seed'], drop_last=True) if train else ShardSampler(len(dataset), replicas)
    # Workers come from a forkserver, not a fork of this process: a fork while another Python thread starts or
    # exits (the last epoch's queue feeder thread, shut down asynchronously) can leave the child blocked forever in
    # CPython's after-fork clean-up (seen under torchrun: a worker stuck in PyOS_AfterFork_Child, the other rank
    # waiting in a collective). The forkserver is single-threaded; seeds and order are as with fork.
    workers = config['workers']
    return DataLoader(dataset, batch_size=replicas.per_process_batch(config['batch_size']), sampler=sampler,
                      drop_last=train, num_workers=workers, pin_memory=torch.cuda.is_available(),
                      multiprocessing_context='forkserver' if workers > 0 else None)


def mixup_batch(x, labels, num_classes, alpha, smoothing):
    """timm's batch mixup: x mixed with its reversed order, λ ~ Beta(α, α); the soft targets carry the smoothing."""
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    off = smoothing / num_classes
    targets = torch.full((len(labels), num_classes), off, device=x.device)
    targets.scatter_(1, labels[:, None], 1 - smoothing + off)
    return x * lam + x.flip(0) * (1 - lam), targets * lam + targets.flip(0) * (1 - lam)
