"""A test gateway (网闸) that carries batch files between two folders, badly on purpose."""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from sync.ferry import batch as b


@dataclass
class Mishaps:
    """What happens to batch number n of a kind: held back some rounds, carried twice, carried
    after the next one, left half-written under a temporary name, one byte flipped, or stripped of
    its signature (the last two lose the original: the sender must resend it)."""

    delay: dict[int, int] = field(default_factory=dict)
    duplicate: set[int] = field(default_factory=set)
    swap_with_next: set[int] = field(default_factory=set)
    half_written: set[int] = field(default_factory=set)
    flip: set[int] = field(default_factory=set)
    unsign: set[int] = field(default_factory=set)


class ChaosFerry:
    def __init__(self, source: Path, target: Path, mishaps: Mishaps) -> None:
        self.source, self.target, self.mishaps = source, target, mishaps
        self.round = 0
        self.held: dict[Path, int] = {}          # file kept aside -> round it may go
        self.again: list[Path] = []               # copies to carry a second time, next round
        self.spent: set[tuple[str, int]] = set()  # (mishap, seq) already done: a resend goes through
        self.aside = source.parent / f".ferry-aside-{source.name}"
        self.carried: list[str] = []
        self.log: list[str] = []

    def _once(self, mishap: str, seq: int) -> bool:
        if seq in getattr(self.mishaps, mishap) and (mishap, seq) not in self.spent:
            self.spent.add((mishap, seq))
            return True
        return False

    def in_transit(self) -> bool:
        return bool(self.held or self.again or self.complete(self.source))

    @staticmethod
    def complete(folder: Path) -> list[Path]:
        return sorted(p for p in folder.glob("pb-*.zip")) if folder.is_dir() else []

    def carry(self) -> None:
        self.round += 1
        self.aside.mkdir(parents=True, exist_ok=True)
        self.target.mkdir(parents=True, exist_ok=True)
        todo = [p for p, when in self.held.items() if when <= self.round]
        for p in todo:
            del self.held[p]
        todo += self.again
        self.again = []
        for path in self.complete(self.source):
            seq = b.parse_name(path.name)[2]
            kept = self.aside / path.name
            shutil.move(path, kept)
            if self._once("delay", seq):
                self.held[kept] = self.round + self.mishaps.delay[seq]
                self.log.append(f"delay {seq}")
                continue
            todo.append(kept)
        todo.sort(key=lambda p: b.parse_name(p.name)[2])
        for i, path in enumerate(todo[:-1]):
            if self._once("swap_with_next", b.parse_name(path.name)[2]):
                todo[i], todo[i + 1] = todo[i + 1], todo[i]
                self.log.append(f"swap {path.name}")
        for path in todo:
            self._deliver(path)

    def _deliver(self, path: Path) -> None:
        seq = b.parse_name(path.name)[2]
        final = self.target / path.name
        if self._once("half_written", seq):  # a copy the gateway never finished, then the real one
            data = path.read_bytes()
            (self.target / f"{b.TEMP_PREFIX}{path.name}").write_bytes(data[: len(data) // 2])
            self.log.append(f"half {seq}")
        if self._once("flip", seq):
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0x01
            final.write_bytes(bytes(data))
            path.unlink()
            self.log.append(f"flip {seq}")
            return
        if self._once("unsign", seq):
            with zipfile.ZipFile(path) as src, zipfile.ZipFile(final, "w") as dst:
                for item in src.infolist():
                    if item.filename != "manifest.sig":
                        dst.writestr(item, src.read(item.filename))
            path.unlink()
            self.log.append(f"unsign {seq}")
            return
        if self._once("duplicate", seq):
            copy = self.aside / f"dup{self.round}" / path.name
            copy.parent.mkdir(exist_ok=True)
            shutil.copy(path, copy)
            self.again.append(copy)
            self.log.append(f"duplicate {seq}")
        name = path.name
        shutil.copy(path, self.target / f"{b.TEMP_PREFIX}x-{name}")
        (self.target / f"{b.TEMP_PREFIX}x-{name}").rename(self.target / name)
        path.unlink()
        self.carried.append(name)
