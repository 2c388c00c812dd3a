"""Suite "torch_loop": ``crossentropy.torch``'s drop-in losses against PyTorch's own (CPU).

Issue 14's goal for the drop-ins: forward+backward ≤ 1.1× PyTorch at batch 64 × 10 classes
inside a small training loop, and ≤ 1.0× at 8,192 × 32,000, default options.

Contenders, each pair on the same data in one process, round-robin (see harness):

- **a small training loop**: an MLP ``32 → 64 → ReLU → 10`` on batches of 64 (eight batches,
  cycled), one optimiser step each — ``zero_grad``, forward, loss, ``backward``,
  ``torch.optim.SGD(lr=0.05, momentum=0.9).step()`` — with the loss from ``torch.nn`` or
  from ``crossentropy.torch`` (``CrossEntropyLoss``, ``cross_entropy``, ``NLLLoss`` on a
  ``log_softmax`` head, ``BCEWithLogitsLoss`` on 10 independent 0/1 labels). Every pair
  starts from the same weights; one step's loss and gradients must agree (checked);
- **the loss alone**: forward+backward of each loss on a 64 × 10 leaf tensor (the training
  step's extra cost, without the model that hides it);
- **large**: forward+backward of ``cross_entropy`` at 8,192 × 32,000 float32 (quick:
  256 × 32,000), ``torch.nn.functional.cross_entropy`` against
  ``crossentropy.torch.cross_entropy``.

A round runs each small contender ``BLOCK`` times in a row (one call is tens of µs: the block
amortises the timer and the harness's pause) and the large ones once. × torch = time / the
paired ``torch.nn`` contender's time, from the fastest rounds (on a shared machine the least
disturbed; the ratio of medians is printed beside). ``BENCH_THREADS`` sets torch's threads
(default 2, as the other suites).
"""

from __future__ import annotations

import os
import time

from benchmarks.harness import Contender, machine, markdown_table, round_robin

TITLE = "PyTorch: drop-in losses in a small training loop"
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
BATCH, FEATURES, HIDDEN, CLASSES = 64, 32, 64, 10
BLOCK = 200
LARGE, LARGE_QUICK = (8_192, 32_000), (256, 32_000)
#: issue 14's goals: (table, the largest ratio to torch)
GOALS = {"step": 1.1, "large": 1.0}


def _contender(name: str, fn) -> Contender:
    """A contender whose rounds also record the process's CPU time (``cpu_times``): on a shared
    machine a descheduled round inflates the wall-clock time but not the CPU time."""
    c = Contender(name, fn, memory=None)
    c.cpu_times = []

    def timed():
        t0 = time.process_time()
        out = fn()
        c.cpu_times.append(time.process_time() - t0)
        return out

    c.fn = timed
    return c


def _batches(torch, multi_label: bool):
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(8):
        x = torch.randn(BATCH, FEATURES, generator=g)
        if multi_label:
            y = (torch.rand(BATCH, CLASSES, generator=g) < 0.3).float()
        else:
            y = torch.randint(0, CLASSES, (BATCH,), generator=g)
        out.append((x, y))
    return out


def _trainer(torch, loss_fn, batches, log_softmax_head: bool = False):
    """A training step closure over a fresh MLP (seeded: every contender starts equal)."""
    torch.manual_seed(1)
    layers = [
        torch.nn.Linear(FEATURES, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, CLASSES),
    ]
    if log_softmax_head:
        layers.append(torch.nn.LogSoftmax(dim=1))
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    state = {"i": 0}

    def step():
        x, y = batches[state["i"] % len(batches)]
        state["i"] += 1
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    def run_block():
        for _ in range(BLOCK):
            step()

    return model, run_block


def _check_pair(torch, name, theirs, ours, batches, head) -> None:
    """One step's loss and parameter gradients from the same weights and batch agree."""
    grads = []
    for loss_fn in (theirs, ours):
        model, _ = _trainer(torch, loss_fn, batches, head)
        x, y = batches[0]
        loss = loss_fn(model(x), y)
        grads.append([loss.detach(), *torch.autograd.grad(loss, list(model.parameters()))])
    for a, b in zip(*grads, strict=True):
        if not torch.allclose(a, b, rtol=1e-5, atol=1e-7):
            msg = f"{name}: the loss or the gradients differ from torch's"
            raise AssertionError(msg)


def _loss_alone(torch, loss_fn, x, y):
    leaf = x.clone().requires_grad_(True)

    def run_block():
        for _ in range(BLOCK):
            loss_fn(leaf, y).backward()

    return run_block


def _small(torch, F, ct):
    index, multi = _batches(torch, False), _batches(torch, True)
    pairs = [  # (name, torch's loss, ours, batches, log-softmax head)
        ("CrossEntropyLoss", torch.nn.CrossEntropyLoss(), ct.CrossEntropyLoss(), index, False),
        ("cross_entropy", F.cross_entropy, ct.cross_entropy, index, False),
        ("NLLLoss", torch.nn.NLLLoss(), ct.NLLLoss(), index, True),
        ("BCEWithLogitsLoss", torch.nn.BCEWithLogitsLoss(), ct.BCEWithLogitsLoss(), multi, False),
    ]
    steps, alone = [], []
    for name, theirs, ours, batches, head in pairs:
        _check_pair(torch, name, theirs, ours, batches, head)
        _, run_t = _trainer(torch, theirs, batches, head)
        _, run_o = _trainer(torch, ours, batches, head)
        steps += [_contender(f"torch {name}", run_t)]
        steps += [_contender(f"ours {name}", run_o)]
        x = torch.randn(BATCH, CLASSES, generator=torch.Generator().manual_seed(2))
        if head:
            x = torch.log_softmax(x, 1)
        y = batches[0][1]
        alone += [_contender(f"torch {name}", _loss_alone(torch, theirs, x, y))]
        alone += [_contender(f"ours {name}", _loss_alone(torch, ours, x, y))]
    return steps, alone


def _large(torch, F, ct, shape):
    n, c = shape
    g = torch.Generator().manual_seed(3)
    x = torch.randn(n, c, generator=g)
    y = torch.randint(0, c, (n,), generator=g)

    def fb(fn):
        def run():
            leaf = x.detach().requires_grad_(True)
            fn(leaf, y).backward()
            return leaf.grad

        return run

    return [
        _contender("torch cross_entropy", fb(F.cross_entropy)),
        _contender("ours cross_entropy", fb(ct.cross_entropy)),
    ], (x, y)


def _timed_rounds(contenders, repeats: int) -> None:
    """Round-robin (harness), keeping the CPU times of the timed rounds only."""
    round_robin(contenders, warmup=1, repeats=repeats)
    for c in contenders:
        c.cpu_times = c.cpu_times[-repeats:]


def _ratios(contenders, per_call: float):
    """Rows of (name, time min, time median, × torch min, × torch median, × torch CPU time
    min) per call, in µs (``per_call`` calls a round); "ours X" is divided by "torch X"."""
    by = {c.name: c for c in contenders}
    rows = []
    for c in contenders:
        ref = by["torch " + c.name.split(" ", 1)[1]]
        rows.append(
            (
                c.name,
                c.min_s / per_call * 1e6,
                c.median_s / per_call * 1e6,
                c.min_s / ref.min_s,
                c.median_s / ref.median_s,
                min(c.cpu_times) / min(ref.cpu_times),
            )
        )
    return rows


def _table(rows, unit: str):
    head = ["contender", f"{unit} (min)", f"{unit} (median)", "× torch (min)", "× torch (median)"]
    return markdown_table(
        [*head, "× torch (CPU time, min)"],
        [[r[0], f"{r[1]:,.1f}", f"{r[2]:,.1f}", *(f"{v:.2f}" for v in r[3:])] for r in rows],
    )


def run(quick: bool = False) -> str:
    import torch
    import torch.nn.functional as F  # noqa: N812

    import crossentropy.torch as ct

    torch.set_num_threads(THREADS)
    info = machine()
    steps, alone = _small(torch, F, ct)
    rounds = 5 if quick else 15
    _timed_rounds(steps, rounds)
    _timed_rounds(alone, rounds)
    shape = LARGE_QUICK if quick else LARGE
    large, (x, y) = _large(torch, F, ct, shape)
    _timed_rounds(large, 3)
    g_t, g_o = (c.fn() for c in large)
    if not torch.allclose(g_t, g_o, rtol=1e-5, atol=1e-9):
        raise AssertionError("large: the gradients differ from torch's")
    del x, y, g_t, g_o
    step_rows, alone_rows = _ratios(steps, BLOCK), _ratios(alone, BLOCK)
    large_rows = [(r[0], r[1] / 1e3, r[2] / 1e3, *r[3:]) for r in _ratios(large, 1)]
    goal_rows = [
        [
            "CrossEntropyLoss in the training loop, 64 × 10",
            f"≤ {GOALS['step']}×",
            f"{step_rows[1][3]:.2f}× (median {step_rows[1][4]:.2f}×)",
        ],
        [
            "cross_entropy in the training loop, 64 × 10",
            f"≤ {GOALS['step']}×",
            f"{step_rows[3][3]:.2f}× (median {step_rows[3][4]:.2f}×)",
        ],
        [
            f"cross_entropy fwd+bwd {shape[0]:,} × {shape[1]:,}",
            f"≤ {GOALS['large']}×",
            f"{large_rows[1][3]:.2f}× (median {large_rows[1][4]:.2f}×)",
        ],
    ]
    for row, goal in zip(goal_rows, [GOALS["step"], GOALS["step"], GOALS["large"]], strict=True):
        row.append("met" if float(row[2].split("×")[0]) <= goal else "**missed**")
    lines = [
        f"## {TITLE}",
        "",
        f"Run: `python -m benchmarks --suite torch_loop{' --quick' if quick else ''}` on "
        f"{time.strftime('%Y-%m-%d %H:%M')}. Machine: {info['cpu']}, {info['cores']} cores "
        f"(SIMD: {info['simd']}); load average at the start {info['load']} (1 / 5 / 15 min). "
        f"Python {info['python']}, torch {info['torch']}, {THREADS} torch thread"
        f"{'s' if THREADS > 1 else ''}. {rounds} timed rounds of {BLOCK} calls (small), 3 of "
        "one call (large), interleaved; × torch = time / the same loss of `torch.nn` "
        "(fastest rounds; medians beside; CPU time: the process's, fastest rounds).",
        "",
        "### Goals of issue 14 measured by this run",
        "",
        markdown_table(["goal", "target", "measured (× torch)", "verdict"], goal_rows),
        "",
        f"### One training step (MLP {FEATURES} → {HIDDEN} → {CLASSES}, batch {BATCH}, SGD)",
        "",
        _table(step_rows, "µs a step"),
        "",
        f"### The loss alone, forward+backward ({BATCH} × {CLASSES})",
        "",
        _table(alone_rows, "µs a call"),
        "",
        f"### Forward+backward {shape[0]:,} × {shape[1]:,} float32",
        "",
        _table(large_rows, "ms"),
        "",
    ]
    section = "\n".join(lines)
    print(section)
    return section
