"""train.precision: bf16 autocast trains, keeps fp32 weights, and exports like fp32; ``auto`` decides by timing
this network's training step both ways on this processor (``training/precision.py``)."""

from __future__ import annotations

import math

import pytest
import torch
from tests_support import tiny_suite_dict

from practica.bundle import load_bundle
from practica.config.load import suite_from_dict
from practica.config.schema import TrainSpec
from practica.errors import ConfigError
from practica.pipeline.export import export_run
from practica.pipeline.suite import run_suite
from practica.training import precision as pr
from practica.training import trainer
from practica.training.device import Device
from practica.training.history import HISTORY, PrecisionChoice
from practica.training.precision import Probe, Processor
from practica.training.trainer import fit

AMX = Processor("Test Xeon", ("amx_bf16", "avx512_bf16"))
EPYC = Processor("Test EPYC", ("avx512_bf16",))
OLD = Processor("Test Core i7")


def _cnn():
    return torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                               torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 10))


@pytest.mark.slow
def test_bf16_training_learns_and_keeps_fp32_weights(digits_pair):
    train, val = digits_pair
    spec = TrainSpec(epochs=4, batch_size=64, precision="bf16", optimizer={"name": "adam", "lr": 0.01})
    result = fit(_cnn, train, val, spec)
    last = result.history.epochs[-1]
    assert all(math.isfinite(r.train_loss) for r in result.history.epochs)
    assert last.metrics["val_accuracy"] > 0.85  # fp32 reaches ~0.95 here; bf16 must learn as well, give or take
    assert all(p.dtype == torch.float32 for p in result.model.parameters())


def test_precision_choices():
    cpu = torch.device("cpu")
    assert Device(cpu.type, precision="bf16").bf16 and not Device(cpu.type, precision="fp32").bf16
    with pytest.raises(ConfigError, match="precision"):
        suite_from_dict({**tiny_suite_dict(), "defaults": {"train": {"precision": "fp16"}}})


@pytest.mark.slow
def test_a_bf16_network_exports_a_faithful_bundle(tmp_path):
    suite = tiny_suite_dict()
    suite["experiments"] = [e for e in suite["experiments"] if e["name"] == "cnn"]
    suite["experiments"][0]["train"] = {"precision": "bf16"}
    run = run_suite(suite_from_dict(suite), runs_root=tmp_path)
    bundle = load_bundle(export_run(run.run_dir, "cnn", tmp_path / "b"))
    assert bundle.card["onnx_parity"]["max_abs_diff"] <= 1e-4
    accuracy = float((bundle.predict_proba(run.splits.test.x).argmax(1) == run.splits.test.y).mean())
    assert accuracy == pytest.approx(run.result("cnn").evaluation.test.classification.accuracy)


def _measured(ms_fp32: float, ms_bf16: float):
    calls = []

    def measure() -> Probe:
        calls.append(1)
        return Probe(ms_fp32, ms_bf16, seconds=0.5)

    return measure, calls


@pytest.mark.parametrize(
    ("setting", "processor", "ms_fp32", "ms_bf16", "used", "measured"),
    [
        ("auto", AMX, 63.0, 41.0, "bf16", True),  # 1.54× faster: bf16
        ("auto", EPYC, 100.0, 100 / pr.MARGIN, "bf16", True),  # exactly the margin: bf16
        ("auto", AMX, 100.0, 95.0, "fp32", True),  # 1.05× faster: within the noise, fp32
        ("auto", EPYC, 40.0, 60.0, "fp32", True),  # slower: fp32
        ("auto", OLD, 40.0, 10.0, "fp32", False),  # no bf16 arithmetic: fp32, nothing measured
        ("fp32", AMX, 100.0, 10.0, "fp32", False),  # set: taken as set
        ("bf16", OLD, 10.0, 100.0, "bf16", False),
        ("auto", Processor("Test GPU", ("bf16",), gpu=True), 10.0, 100.0, "bf16", False),  # a GPU: the old rule
    ],
)
def test_auto_chooses_bf16_only_when_it_measures_clearly_faster(setting, processor, ms_fp32, ms_bf16, used,
                                                                measured):
    measure, calls = _measured(ms_fp32, ms_bf16)
    choice = pr.choose(setting, processor, measure)
    assert choice.used == used and choice.setting == setting
    assert bool(calls) == measured
    assert (choice.ms_fp32, choice.ms_bf16) == ((ms_fp32, ms_bf16) if measured else (None, None))
    assert choice.processor == str(processor)


QUIET = pr.Load(0.5, 2)


class FakeSteps:
    """Steps that take a scripted time on fake clocks (wall and CPU) on a machine under a set load, and the order
    they ran in."""

    def __init__(self, load: pr.Load | None = QUIET) -> None:
        self.now, self.cpu_now, self.order, self.load = 0.0, 0.0, [], load

    def clocks(self) -> dict:
        """``time_interleaved``'s clocks and load, faked."""
        return {"clock": lambda: self.now, "cpu_clock": lambda: self.cpu_now, "load": lambda: self.load}

    def step(self, name: str, *ms: float | tuple[float, float]):
        """A step that takes each of ``ms`` in turn, then the last again: wall ms, or (wall ms, CPU ms)."""
        times = iter(ms)
        last = [ms[0]]

        def run() -> None:
            self.order.append(name)
            last[0] = next(times, last[0])
            wall, cpu = last[0] if isinstance(last[0], tuple) else (last[0], last[0])
            self.now += wall / 1000
            self.cpu_now += cpu / 1000

        return run


def test_the_reason_states_the_speed_up_and_never_rounds_a_miss_up_to_the_margin():
    assert pr.choose("auto", AMX, lambda: Probe(109.9, 100.0, 1.0)).reason == (
        "bf16 steps 1.09× as fast as fp32's, short of the 1.10× that bf16 must reach")
    assert pr.choose("auto", AMX, lambda: Probe(150.0, 100.0, 1.0)).reason == "bf16 steps 1.50× as fast as fp32's"


def test_the_steps_are_timed_interleaved_after_a_warm_up_and_the_fastest_sample_counts():
    fake = FakeSteps()
    # warm-up 200 ms each, then fp32 60, 90 (a neighbour), 60; bf16 40, 40, 70
    a, b = fake.step("A", 200, 60, 90, 60), fake.step("B", 200, 40, 40, 70)
    probe = pr.time_interleaved(a, b, rounds=3, warmup=1, **fake.clocks())
    assert fake.order == ["A", "B", "A", "B", "B", "A", "A", "B"]  # warm-up, then A B, B A, A B
    assert probe.ms_fp32 == pytest.approx(60) and probe.ms_bf16 == pytest.approx(40)
    assert probe.seconds == pytest.approx(0.76)  # the warm-up counts in the cost


@pytest.mark.parametrize(("ms_fp32", "ms_bf16"), [(100, 40), (40, 100)])
def test_a_clear_difference_ends_the_measurement_after_two_rounds(ms_fp32, ms_bf16):
    fake = FakeSteps()
    probe = pr.time_interleaved(fake.step("A", ms_fp32), fake.step("B", ms_bf16), rounds=4, **fake.clocks())
    assert fake.order == ["A", "B", "A", "B", "B", "A"]  # the warm-up, A B, B A: 2.5× (or 0.4×) is far from 1.10×
    assert (probe.ms_fp32, probe.ms_bf16) == (pytest.approx(ms_fp32), pytest.approx(ms_bf16))


def test_a_step_shorter_than_a_sample_is_timed_over_several_calls():
    fake = FakeSteps()
    probe = pr.time_interleaved(fake.step("A", 5), fake.step("B", 4), rounds=2, warmup=1, min_sample_s=0.02,
                                **fake.clocks())
    assert fake.order == ["A", "B"] + ["A"] * 5 + ["B"] * 5 + ["B"] * 5 + ["A"] * 5  # 20 ms / 4 ms: 5 calls
    assert probe.ms_fp32 == pytest.approx(5) and probe.ms_bf16 == pytest.approx(4)


@pytest.mark.parametrize(("load", "clock", "used"), [(pr.Load(5.0, 2), "cpu", "fp32"), (QUIET, "wall", "bf16"),
                                                      (None, "wall", "bf16")])
def test_on_an_oversubscribed_machine_cpu_time_decides_not_the_scheduler(load, clock, used):
    # Both precisions do the same work, 60 ms of CPU a step; the scheduler takes fp32's threads off their cores
    # for 30 ms of each of its samples, so that by wall time bf16 would look 1.5× as fast.
    fake = FakeSteps(load)
    probe = pr.time_interleaved(fake.step("A", (90, 60)), fake.step("B", (60, 60)), rounds=3, warmup=1,
                                **fake.clocks())
    choice = pr.choose("auto", AMX, lambda: probe)
    assert (probe.clock, choice.clock, choice.used) == (clock, clock, used)
    if clock == "cpu":  # the work decides, and the record says so
        assert (probe.ms_fp32, probe.ms_bf16) == (pytest.approx(60), pytest.approx(60))
        assert choice.reason == ("bf16 steps 1.00× as fast as fp32's by CPU time (load 5.0 on 2 cores: wall time "
                                 "would time the scheduler), short of the 1.10× that bf16 must reach")
        assert choice.describe() == ("precision auto → fp32 (60 ms CPU/step vs bf16 60 ms CPU/step on Test Xeon "
                                     "(amx_bf16, avx512_bf16))")
    else:  # a quiet machine (or one with no load average): the wall time a run will take decides
        assert (probe.ms_fp32, probe.ms_bf16) == (pytest.approx(90), pytest.approx(60))


def test_decisions_are_cached_in_the_process_and_in_a_file(tmp_path):
    pr.forget_decisions()
    cache = tmp_path / "precision.json"
    measure, calls = _measured(63.0, 41.0)
    first = pr.decide("auto", AMX, "key-1", measure, cache)
    again = pr.decide("auto", AMX, "key-1", measure, cache)
    assert len(calls) == 1 and first.used == again.used == "bf16"
    assert first.probe_seconds == 0.5 and again.probe_seconds == 0.0  # reused: free
    pr.forget_decisions()  # a new process (a resumed run, a worker) reads the run directory's file
    from_file = pr.decide("auto", AMX, "key-1", measure, cache)
    assert len(calls) == 1 and (from_file.used, from_file.ms_bf16) == ("bf16", 41.0)
    pr.decide("auto", AMX, "key-2", measure, cache)  # another network or batch: measured again
    assert len(calls) == 2
    cache.write_text("{not json")  # a damaged file is measured over, not trusted
    pr.forget_decisions()
    assert pr.decide("auto", AMX, "key-1", measure, cache).used == "bf16" and len(calls) == 3
    pr.forget_decisions()


def test_a_real_probe_times_both_precisions_and_leaves_the_model_and_rng_alone():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(32, 3))
    weights = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = torch.randn(64, 16), torch.randint(0, 3, (64,))
    rng = torch.get_rng_state()
    probe = pr.measure_training(net, torch.nn.functional.cross_entropy,
                                lambda m: torch.optim.SGD(m.parameters(), lr=0.1), x, y, images=False, rounds=2)
    assert probe.ms_fp32 > 0 and probe.ms_bf16 > 0 and probe.seconds > 0
    assert all(torch.equal(net.state_dict()[k], v) for k, v in weights.items())
    assert torch.equal(torch.get_rng_state(), rng)
    choice = pr.decide("auto", pr.this_processor(torch.device("cpu")), "real", lambda: probe)
    assert choice.used in ("fp32", "bf16")
    pr.forget_decisions()


@pytest.fixture
def processor(monkeypatch):
    """The processor the trainer's device sees (``this_processor``), set by the test."""
    def use(p: Processor) -> None:
        monkeypatch.setattr("practica.training.device.this_processor", lambda device: p)
    pr.forget_decisions()
    yield use
    pr.forget_decisions()


def _dense():
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Dropout(0.1),
                               torch.nn.Linear(32, 10))


def test_fit_records_auto_s_decision_with_its_timings(digits_pair, processor, monkeypatch, tmp_path):
    processor(EPYC)
    calls = []

    def measure(*args, **kwargs) -> Probe:
        calls.append(args[3].shape)  # the batch the probe trains on
        return Probe(63.0, 41.0, seconds=0.2)

    monkeypatch.setattr(trainer, "measure_training", measure)
    heard = []

    class Display:
        def settings(self, line):
            heard.append(line)

        def epoch_start(self, epoch, epochs, steps): ...
        def step(self, done): ...
        def epoch_end(self, r): ...

    spec = TrainSpec(epochs=1, batch_size=50, precision="auto")
    cache = tmp_path / "precision.json"
    result = fit(_dense, *digits_pair, spec, events=Display(), precision_cache=cache)
    choice = result.history.precision
    assert choice == PrecisionChoice(setting="auto", used="bf16", processor=str(EPYC), ms_fp32=63.0, ms_bf16=41.0,
                                     probe_seconds=0.2, reason=choice.reason)
    assert calls == [torch.Size([50, 1, 8, 8])]  # the run's batch size and input shape
    assert heard == ["precision auto → bf16 (41 ms/step vs fp32 63 ms/step on Test EPYC (avx512_bf16))"]
    assert HISTORY.validate_python(HISTORY.dump_python(result.history)).precision == choice  # kept in the records
    pr.forget_decisions()
    again = fit(_dense, *digits_pair, spec, precision_cache=cache)  # a resume: the run directory's decision
    assert len(calls) == 1 and again.history.precision.used == "bf16" and again.history.precision.probe_seconds == 0


def test_the_probe_leaves_the_real_run_as_fp32_would_train_it(digits_pair, processor, monkeypatch):
    processor(AMX)
    real = trainer.measure_training

    def probe_then_call_it_a_tie(*args, **kwargs) -> Probe:  # the real probe runs, then fp32 is chosen
        probe = real(*args, **kwargs)
        return Probe(probe.ms_fp32, probe.ms_fp32, probe.seconds)

    monkeypatch.setattr(trainer, "measure_training", probe_then_call_it_a_tie)
    spec = TrainSpec(epochs=2, batch_size=64, seed=3)
    plain = fit(_dense, *digits_pair, spec)
    auto = fit(_dense, *digits_pair, spec.model_copy(update={"precision": "auto"}))
    assert auto.history.precision.used == "fp32" and auto.history.precision.ms_fp32 > 0
    assert [r.train_loss for r in auto.history.epochs] == [r.train_loss for r in plain.history.epochs]
    assert all(torch.equal(a, b) for a, b in zip(auto.model.state_dict().values(), plain.model.state_dict().values(),
                                                  strict=True))


def test_auto_without_bf16_arithmetic_trains_in_fp32_unmeasured(digits_pair, processor, monkeypatch):
    processor(OLD)
    monkeypatch.setattr(trainer, "measure_training", lambda *a, **k: pytest.fail("measured on a CPU without bf16"))
    result = fit(_dense, *digits_pair, TrainSpec(epochs=1, precision="auto"))
    assert result.history.precision.used == "fp32" and "no bf16" in result.history.precision.reason
    assert result.history.precision.describe().startswith("precision auto → fp32 (Test Core i7 has no bf16")


def test_the_probe_and_the_run_lay_out_images_alike():
    """fp32 trains channels-last on a CPU too: the probe must time it so, or it compares bf16 with a slower fp32."""
    from practica.training.device import Device
    from practica.training.precision import channels_last

    for precision in ("fp32", "bf16"):
        assert Device("cpu", precision=precision, images=True).channels_last == channels_last(True, precision == "bf16",
                                                                                               "cpu")
    assert channels_last(True, False, "cpu") and channels_last(True, True, "cuda")
    assert not channels_last(True, False, "cuda") and not channels_last(False, True, "cpu")
