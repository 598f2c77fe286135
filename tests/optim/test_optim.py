"""Optimizers against the lecture's equations written out in NumPy, step by step.

The problem: loss(theta) = sum(c * theta + a * theta^2 / 2) for a parameter matrix theta, so the
gradient G(theta) = c + a * theta is known in closed form and the reference can apply eqs.
57/64/68/70/71-76 by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphdl as gd
from graphdl import optim
from graphdl.optim import schedules

STEPS = 6
RNG = np.random.default_rng(7)
A = RNG.uniform(0.5, 2.0, size=(3, 4))
C = RNG.normal(size=(3, 4))
THETA0 = RNG.normal(size=(3, 4))


def _grad(theta: np.ndarray) -> np.ndarray:
    return C + A * theta


def _run(opt: optim.Optimizer, dtype: str = "float64", steps: int = STEPS) -> list[np.ndarray]:
    theta = gd.shared(THETA0.astype(dtype), name="theta")
    loss = gd.sum(C.astype(dtype) * theta + A.astype(dtype) * theta * theta * 0.5)
    step = gd.function([], loss, updates=opt.updates(loss, [theta]))
    values = []
    for _ in range(steps):
        step()
        values.append(theta.get_value())
    return values


def _sgd_ref(lr):
    theta, out = THETA0.copy(), []
    for _ in range(STEPS):
        theta = theta - lr * _grad(theta)  # eq. 57
        out.append(theta)
    return out


def _momentum_ref(lr, rho, nesterov=False):
    theta, g, out = THETA0.copy(), np.zeros_like(THETA0), []
    for _ in range(STEPS):
        G = _grad(theta)
        g = rho * g + (1 - rho) * G  # eq. 64
        direction = rho * g + (1 - rho) * G if nesterov else g
        theta = theta - lr * direction
        out.append(theta)
    return out


def _adagrad_ref(lr, delta):
    theta, r, out = THETA0.copy(), np.zeros_like(THETA0), []
    for _ in range(STEPS):
        G = _grad(theta)
        r = r + G * G  # eq. 68
        theta = theta - lr / (delta + np.sqrt(r)) * G
        out.append(theta)
    return out


def _rmsprop_ref(lr, rho, delta):
    theta, r, out = THETA0.copy(), np.zeros_like(THETA0), []
    for _ in range(STEPS):
        G = _grad(theta)
        r = rho * r + (1 - rho) * G * G  # eq. 70
        theta = theta - lr / (delta + np.sqrt(r)) * G
        out.append(theta)
    return out


def _adam_ref(lr, rho1, rho2, delta):
    theta, s, r, out = THETA0.copy(), np.zeros_like(THETA0), np.zeros_like(THETA0), []
    for t in range(1, STEPS + 1):
        G = _grad(theta)
        s = rho1 * s + (1 - rho1) * G  # eq. 72
        r = rho2 * r + (1 - rho2) * G * G  # eq. 73
        s_hat = s / (1 - rho1**t)  # eq. 74
        r_hat = r / (1 - rho2**t)  # eq. 75
        theta = theta - lr / (delta + np.sqrt(r_hat)) * s_hat  # eq. 76
        out.append(theta)
    return out


CASES = [
    ("sgd", lambda: optim.SGD(0.1), lambda: _sgd_ref(0.1)),
    ("gd", lambda: optim.GD(0.05), lambda: _sgd_ref(0.05)),
    ("momentum", lambda: optim.Momentum(0.2, rho=0.8), lambda: _momentum_ref(0.2, 0.8)),
    ("nesterov", lambda: optim.Nesterov(0.2, rho=0.8), lambda: _momentum_ref(0.2, 0.8, True)),
    ("adagrad", lambda: optim.AdaGrad(0.3, delta=1e-3), lambda: _adagrad_ref(0.3, 1e-3)),
    ("rmsprop", lambda: optim.RMSProp(0.05, rho=0.7, delta=1e-4),
     lambda: _rmsprop_ref(0.05, 0.7, 1e-4)),
    ("adam", lambda: optim.Adam(0.05, rho1=0.8, rho2=0.95, delta=1e-6),
     lambda: _adam_ref(0.05, 0.8, 0.95, 1e-6)),
    ("adam-defaults", lambda: optim.Adam(), lambda: _adam_ref(0.001, 0.9, 0.999, 1e-8)),
]


@pytest.mark.parametrize("name,make,reference", CASES, ids=[c[0] for c in CASES])
def test_optimizer_matches_lecture_equations(name, make, reference):
    got = _run(make())
    want = reference()
    for t, (g, w) in enumerate(zip(got, want), start=1):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12, err_msg=f"{name} step {t}")
    assert not np.allclose(got[-1], THETA0)  # it moved


@pytest.mark.parametrize("name,make,reference", CASES, ids=[c[0] for c in CASES])
def test_optimizer_float32_stays_float32(name, make, reference):
    got = _run(make(), dtype="float32")
    assert all(v.dtype == np.float32 for v in got)
    np.testing.assert_allclose(got[-1], reference()[-1], rtol=2e-4, atol=2e-5)


def test_optimizer_state_and_step_counter():
    opt = optim.Adam(0.01)
    _run(opt, steps=4)
    assert opt.step.get_value() == 4.0
    names = sorted(v.name for v in opt.state())
    assert names == ["opt_step", "theta_r", "theta_s"]
    opt.reset()
    assert all(not v.get_value().any() for v in opt.state())


def test_optimizer_descends_a_loss_adam_by_name():
    opt = optim.get("adam", lr=0.1)
    assert isinstance(opt, optim.Adam) and opt.lr == 0.1
    losses = []
    theta = gd.shared(THETA0.copy(), name="theta")
    loss = gd.sum(C * theta + A * theta * theta * 0.5)
    step = gd.function([], loss, updates=opt.updates(loss, [theta]))
    for _ in range(100):
        losses.append(float(step()))
    minimum = float(np.sum(-C * C / (2 * A)))  # at theta* = -C / A
    assert losses[-1] < losses[0]
    assert losses[-1] == pytest.approx(minimum, abs=1e-2)
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'"):
        optim.get("adamw")


def test_optimizer_rejects_bad_params():
    theta = gd.shared(THETA0.copy(), name="theta")
    loss = gd.sum(theta * theta)
    with pytest.raises(ValueError, match="listed twice"):
        optim.SGD(0.1).updates(loss, [theta, theta])
    counts = gd.shared(np.arange(3), name="counts")
    with pytest.raises(TypeError, match="counts has dtype int64"):
        optim.SGD(0.1).apply_gradients([counts], [gd.constant(np.zeros(3))])


# --- schedules ------------------------------------------------------------------------------
SCHEDULES = [
    (schedules.Constant(0.3), lambda k: 0.3),
    (schedules.StepDecay(0.5, factor=0.1, every=3), lambda k: 0.5 * 0.1 ** (k // 3)),
    (schedules.ExponentialDecay(0.5, rate=0.9, every=2), lambda k: 0.5 * 0.9 ** (k / 2)),
    (schedules.InverseTimeDecay(0.5, decay=0.25), lambda k: 0.5 / (1 + 0.25 * k)),
    (schedules.CosineDecay(0.5, total_steps=5, final_lr=0.1),
     lambda k: 0.1 + 0.4 * 0.5 * (1 + np.cos(np.pi * min(k, 5) / 5))),
    (schedules.LinearWarmup(schedules.Constant(0.2), warmup_steps=4),
     lambda k: 0.2 * min(1.0, (k + 1) / 4)),
]


@pytest.mark.parametrize(
    "schedule,formula", SCHEDULES, ids=[type(s[0]).__name__ for s in SCHEDULES]
)
def test_schedule_values(schedule, formula):
    step = gd.shared(np.float64(0.0), name="k")
    value = gd.function([], schedule(step))
    for k in range(9):
        step.set_value(np.float64(k))
        assert float(value()) == pytest.approx(formula(k), rel=1e-12)


def test_sgd_with_schedule_uses_eta_t():
    """eq. 57 with eta_t: step t (0-based k) uses lr(k)."""
    sched = schedules.StepDecay(0.2, factor=0.5, every=2)
    got = _run(optim.SGD(sched))
    theta = THETA0.copy()
    for k in range(STEPS):
        theta = theta - 0.2 * 0.5 ** (k // 2) * _grad(theta)
        np.testing.assert_allclose(got[k], theta, rtol=1e-12)


# --- clipping -------------------------------------------------------------------------------
def test_clip_by_global_norm_scales_all_gradients_together():
    g1, g2 = gd.vector("g1", 3), gd.matrix("g2", (2, 2))
    (c1, c2), norm = optim.clip_by_global_norm([g1, g2], max_norm=1.0)
    f = gd.function([g1, g2], [c1, c2, norm])
    a, b = np.array([3.0, 0.0, 4.0]), np.array([[0.0, 12.0], [0.0, 0.0]])
    ca, cb, n = f(a, b)
    assert n == pytest.approx(13.0)
    np.testing.assert_allclose(ca, a / 13.0)
    np.testing.assert_allclose(cb, b / 13.0)
    small = f(a / 100, b / 100)  # under the limit: unchanged
    np.testing.assert_allclose(small[0], a / 100)


def test_sgd_with_clipping_matches_numpy():
    opt = optim.SGD(0.1, clip_norm=0.5, clip_value=0.1)
    got = _run(opt)
    theta = THETA0.copy()
    for k in range(STEPS):
        G = _grad(theta)
        G = G * 0.5 / max(np.linalg.norm(G), 0.5)
        G = np.clip(G, -0.1, 0.1)
        theta = theta - 0.1 * G
        np.testing.assert_allclose(got[k], theta, rtol=1e-12)
