"""`python -m omnireset_policy.student.distill`: train the RGB student on expert shards.

    python -m omnireset_policy.student.distill --data data/expert/peg_easy --run runs/student/peg_easy \
        --steps 20000 --batch-size 32 --export exported/peg_easy_rgb [--resume]

Loss = KL(expert || student) over the Gaussian action distributions (expert std from the shards)
+ ``aux_weight`` x MSE of the auxiliary object-pose reconstruction. Images are augmented
(augment.py) every step. Progress on the terminal (tqdm), scalars to TensorBoard
(<run>/tensorboard), checkpoints every ``--checkpoint-every`` steps (<run>/checkpoints, written
atomically); ``--resume`` continues from the newest one (model, optimizer, step, RNG).
The export is omnireset_policy.exported_policy kind "rgb": encoder.pt (one frame) + head.pt.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import yaml

from omnireset_policy import observation_layout as layout
from omnireset_policy.artifact_errors import ArtifactError, reading, verify_zip
from omnireset_policy.student_network import DEFAULT_PROPRIO_TERMS, export_rgb_policy

from .augment import AugmentCfg, augment_images
from .dataset import DatasetMismatchError, ExpertDataset, check_camera_config
from .model import ENCODERS, StudentPolicy, gaussian_kl, load_encoder_weights

CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_FORMAT = "omnireset.student_checkpoint"


@dataclass
class DistillConfig:
    data: list[str] = field(default_factory=list)
    run_dir: str = "runs/student"
    cameras: tuple[str, ...] | None = None  # None: the dataset's
    image_size: tuple[int, int] | None = None  # (height, width); None: the dataset's
    encoder: str = "resnet18"
    encoder_weights: str | None = None
    frame_stack: int = layout.HISTORY_LENGTH
    hidden: int = 512
    steps: int = 1000
    batch_size: int = 32
    lr: float = 3e-4
    aux_weight: float = 1.0
    augment: bool = True
    checkpoint_every: int = 500
    log_every: int = 10
    seed: int = 0
    num_workers: int = 0
    tensorboard: bool = True
    camera_config: str | None = None  # a cameras.yaml the dataset must match (the deployed cameras)

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}; valid: {sorted(ENCODERS)}")
        for name in ("steps", "batch_size", "checkpoint_every", "log_every", "frame_stack"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (math.isfinite(self.lr) and self.lr > 0) or \
                not (math.isfinite(self.aux_weight) and self.aux_weight >= 0):
            raise ValueError("lr must be finite > 0 and aux_weight finite >= 0")


def _checkpoints(run_dir: Path) -> list[Path]:
    return sorted((run_dir / CHECKPOINT_DIR).glob("step_*.pt"))


def _save_checkpoint(run_dir: Path, step: int, model, optimizer, cfg: DistillConfig, meta: dict) -> Path:
    path = run_dir / CHECKPOINT_DIR / f"step_{step:08d}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save({"format": CHECKPOINT_FORMAT, "step": step, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "config": asdict(cfg), "dataset": meta,
                "rng": torch.get_rng_state()}, tmp)
    os.replace(tmp, path)
    return path


def _expert_metadata(attrs: dict) -> dict:
    """The expert's metadata.yaml (task, robot, action scale) when the recorded path still exists."""
    try:
        return yaml.safe_load((Path(str(attrs.get("expert", ""))) / "metadata.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}


def export_student(model: StudentPolicy, out_dir, image_size, dataset_attrs: dict, seed: int, overwrite=True):
    expert = _expert_metadata(dataset_attrs)
    kwargs = {}
    if expert.get("action", {}).get("scale"):
        kwargs["action_scale"] = tuple(expert["action"]["scale"])
    if expert.get("robot"):
        kwargs["robot"] = expert["robot"]
    fovy = dataset_attrs.get("camera_fovy_deg")  # the collector's rendering cameras (image_fit.py)
    if isinstance(fovy, (str, bytes)):
        fovy = json.loads(fovy)
    if isinstance(fovy, dict) and set(fovy) >= set(model.cameras):
        kwargs["fovy_deg"] = {c: float(fovy[c]) for c in model.cameras}
    model = copy.deepcopy(model).eval()
    return export_rgb_policy(model.encoder, model.head, out_dir, feature_dim=model.feature_dim,
                             image_size=tuple(image_size), cameras=model.cameras, frame_stack=model.frame_stack,
                             proprio_terms=model.proprio_terms, task=str(dataset_attrs.get("task", "any")),
                             variant=f"rgb_student_{dataset_attrs.get('variant', '')}".rstrip("_"), seed=seed,
                             made_by="omnireset_policy.student.distill", overwrite=overwrite, **kwargs)


@dataclass
class DistillResult:
    model: StudentPolicy
    step: int
    losses: list[float]
    samples_per_second: float
    dataset: ExpertDataset
    checkpoint: Path | None


def distill(cfg: DistillConfig, resume: bool = False, progress: bool = True) -> DistillResult:
    torch.manual_seed(cfg.seed)
    run_dir = Path(cfg.run_dir)
    dataset = ExpertDataset(cfg.data, cfg.cameras, cfg.image_size, cfg.frame_stack)
    if cfg.camera_config:
        check_camera_config(dataset.cameras, dataset.image_size, cfg.camera_config)
    if dataset.skipped:
        print(f"distill: skipped {dataset.skipped} corrupted shard(s): "
              + "; ".join(f"{p.name} ({why})" for p, why in dataset.index.skipped), file=sys.stderr)
    model = StudentPolicy(dataset.cameras, cfg.encoder, cfg.frame_stack, DEFAULT_PROPRIO_TERMS, hidden=cfg.hidden)
    expected_proprio = model.proprio_frame_dim * cfg.frame_stack
    if dataset[0]["proprio"].numel() != expected_proprio:
        raise DatasetMismatchError(f"dataset proprioception has {dataset[0]['proprio'].numel()} values per sample, "
                                   f"the student needs {expected_proprio}")
    if cfg.encoder_weights:
        load_encoder_weights(model.encoder, cfg.encoder_weights)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    step = 0
    meta = {"cameras": list(dataset.cameras), "image_size": list(dataset.image_size),
            "episodes": dataset.num_episodes, "samples": len(dataset), "skipped_shards": dataset.skipped}
    if resume:
        found = _checkpoints(run_dir)
        if found:
            what = "not a readable student checkpoint (corrupted or truncated?)"
            verify_zip(found[-1], what)  # torch does not check the archive's CRCs itself
            with reading(found[-1], what):
                ckpt = torch.load(found[-1], map_location="cpu", weights_only=False)
            if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
                raise ArtifactError(f"{found[-1]}: not a student checkpoint")
            old = ckpt["config"]
            for key in ("encoder", "frame_stack", "hidden"):
                if old[key] != getattr(cfg, key):
                    raise ValueError(f"cannot resume {found[-1]}: it was trained with {key}={old[key]!r}, "
                                     f"now {getattr(cfg, key)!r}")
            if ckpt["dataset"]["cameras"] != meta["cameras"] or ckpt["dataset"]["image_size"] != meta["image_size"]:
                raise DatasetMismatchError(f"cannot resume {found[-1]}: trained on cameras {ckpt['dataset']['cameras']}"
                                           f" / image size {ckpt['dataset']['image_size']}, the data has "
                                           f"{meta['cameras']} / {meta['image_size']}")
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            torch.set_rng_state(ckpt["rng"])
            step = int(ckpt["step"])
            print(f"distill: resumed from {found[-1]} at step {step}", file=sys.stderr)
    writer = None
    if cfg.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(run_dir / "tensorboard"))
    generator = torch.Generator().manual_seed(cfg.seed + step)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=cfg.batch_size, num_workers=cfg.num_workers, drop_last=False,
        sampler=torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=10**9, generator=generator))
    batches = iter(loader)
    aug = AugmentCfg()
    losses: list[float] = []
    from tqdm import tqdm

    bar = tqdm(total=cfg.steps, initial=step, unit="step", desc="distill", disable=not progress)
    model.train()
    samples, start = 0, time.perf_counter()
    checkpoint = None
    try:
        while step < cfg.steps:
            batch = next(batches)
            images = batch["images"].to(torch.float32).div_(255.0)  # [B, C, S, 3, H, W]
            if cfg.augment:
                # one parameter draw per (sample, camera) frame stack: [B, C, S] -> groups of S
                images = augment_images(images.reshape(-1, *images.shape[-3:]), aug,
                                        group_size=images.shape[2]).reshape(images.shape)
            mean, log_std, aux = model(images, batch["proprio"])
            kl = gaussian_kl(batch["action_mean"], batch["action_std"], mean, log_std).mean()
            aux_loss = torch.nn.functional.mse_loss(aux, batch["aux"])
            loss = kl + cfg.aux_weight * aux_loss
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss at step {step} (kl {float(kl)}, aux {float(aux_loss)})")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            samples += images.shape[0]
            losses.append(loss.item())
            bar.update(1)
            if step % cfg.log_every == 0 or step == cfg.steps:
                rate = samples / max(time.perf_counter() - start, 1e-9)
                bar.set_postfix(loss=f"{loss.item():.3f}", kl=f"{kl.item():.3f}", aux=f"{aux_loss.item():.4f}",
                                sps=f"{rate:.1f}")
                if writer is not None:
                    writer.add_scalar("loss/total", loss.item(), step)
                    writer.add_scalar("loss/kl", kl.item(), step)
                    writer.add_scalar("loss/aux_pose", aux_loss.item(), step)
                    writer.add_scalar("student/std_mean", log_std.detach().exp().mean().item(), step)
                    writer.add_scalar("perf/samples_per_second", rate, step)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                checkpoint = _save_checkpoint(run_dir, step, model, optimizer, cfg, meta)
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    elapsed = time.perf_counter() - start
    return DistillResult(model, step, losses, samples / elapsed if elapsed > 0 else 0.0, dataset, checkpoint)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m omnireset_policy.student.distill", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", required=True, help="shard directories or files")
    p.add_argument("--run", required=True, help="run directory (checkpoints, tensorboard)")
    p.add_argument("--cameras", default=None, help="comma-separated camera names the student expects "
                   "(refused if the dataset differs); default: the dataset's")
    p.add_argument("--image-size", type=int, nargs=2, default=None, metavar=("HEIGHT", "WIDTH"))
    p.add_argument("--camera-config", default=None, help="cameras.yaml (omnireset_sim format) of the cameras "
                   "the student will be deployed with; refused if names or image size differ from the data")
    p.add_argument("--encoder", choices=sorted(ENCODERS), default="resnet18")
    p.add_argument("--encoder-weights", default=None, help="local state dict for the encoder (e.g. ImageNet "
                   "resnet18, torchvision key names accepted); never downloaded")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--aux-weight", type=float, default=1.0)
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --run")
    p.add_argument("--no-tensorboard", action="store_true")
    p.add_argument("--export", default=None, help="write the exported rgb policy here at the end")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = DistillConfig(
            data=list(args.data), run_dir=args.run,
            cameras=tuple(c.strip() for c in args.cameras.split(",")) if args.cameras else None,
            image_size=tuple(args.image_size) if args.image_size else None, encoder=args.encoder,
            encoder_weights=args.encoder_weights, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
            aux_weight=args.aux_weight, augment=not args.no_augment, checkpoint_every=args.checkpoint_every,
            log_every=args.log_every, seed=args.seed, num_workers=args.num_workers,
            tensorboard=not args.no_tensorboard, camera_config=args.camera_config)
        result = distill(cfg, resume=args.resume, progress=not args.quiet)
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"distill: error: {exc}", file=sys.stderr)
        return 2
    print(f"distill: {result.step} steps, final loss {result.losses[-1] if result.losses else float('nan'):.4f}, "
          f"{result.samples_per_second:.1f} samples/s, {len(result.dataset)} samples in "
          f"{result.dataset.num_episodes} episodes ({result.dataset.skipped} shard(s) skipped); "
          f"checkpoint {result.checkpoint}")
    if args.export:
        out = export_student(result.model, args.export, result.dataset.image_size, result.dataset.index.attrs,
                             cfg.seed)
        print(f"distill: exported {out}")
        # Evaluation runs the simulator, which sits above this package: omnireset_sim does it.
        print(f"distill: evaluate with: python -m omnireset_sim.collect.evaluate_student --policy {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
