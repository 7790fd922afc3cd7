"""The executors through their public interface, on small units (squares, naps, deaths)."""

from __future__ import annotations

import pytest
from unit_functions import always_die, broken, die_first_time, nap_then_square, pid, square, threads

from practica.errors import ExecutionError
from practica.execution import Resources, WorkUnit, get_executor
from practica.execution.units import RemoteTraceback


@pytest.mark.parametrize(("kind", "options", "message"), [
    ("dask", {}, "unknown executor 'dask'; choose one of local, processes, ray"),
    ("processes", {"workers": 0}, "workers must be a whole number of 1 or more; got 0"),
    ("processes", {"workers": 1.5}, "workers must be a whole number of 1 or more; got 1.5"),
    ("processes", {"address": "127.0.0.1:6379"}, "an address .* is for the Ray executor; add --executor ray"),
    ("local", {"workers": 2}, "the local executor runs one unit at a time.*needs --executor processes"),
])
def test_a_bad_executor_choice_says_what_to_change(kind, options, message):
    with pytest.raises(ExecutionError, match=message):
        get_executor(kind, **options)


@pytest.mark.parametrize(("resources", "message"), [
    ({"cpus": 1, "memory": 4}, r"unknown resources \['memory'\]; a unit asks for 'cpus' and 'gpus' only"),
    ({"cpus": 0}, "cpus=0; give a whole number of 1 or more"),
    ({"gpus": -1}, "gpus=-1; give 0 or more"),
])
def test_a_bad_resource_request_is_refused(resources, message):
    with pytest.raises(ExecutionError, match=message):
        WorkUnit("u", square, (2,), resources=resources)


def test_a_unit_takes_its_resources_as_a_dict_or_a_record():
    assert WorkUnit("u", square, resources={"cpus": 2, "gpus": 1}).needs == Resources(cpus=2, gpus=1)
    assert WorkUnit("u", square).needs == Resources(cpus=1, gpus=0)


def test_the_local_executor_runs_each_unit_in_turn_and_lets_an_exception_through():
    executor = get_executor("local")
    results = list(executor.map([WorkUnit(f"s{i}", square, (i,)) for i in range(3)]))
    assert [(r.name, r.value, r.attempts, r.ok) for r in results] == [("s0", 0, 1, True), ("s1", 1, 1, True),
                                                                       ("s2", 4, 1, True)]
    with pytest.raises(KeyError, match="a bug"):
        list(executor.map([WorkUnit("b", broken, ("a bug",))]))


def test_worker_processes_give_every_result_in_the_order_they_finish():
    units = [WorkUnit("slow", nap_then_square, (3, 1.5)), WorkUnit("fast", nap_then_square, (2, 0.0)),
             WorkUnit("threads", threads, resources={"cpus": 1})]
    results = list(get_executor("processes", workers=2).map(units))
    assert {r.name: r.value for r in results} == {"slow": 9, "fast": 4, "threads": 1}  # torch held to 1 thread
    assert results[-1].name == "slow" and all(r.ok and r.attempts == 1 for r in results)


def test_worker_processes_serve_the_next_map_too_until_the_executor_is_closed():
    executor = get_executor("processes", workers=1)
    (first,) = [r.value for r in executor.map([WorkUnit("a", pid)])]
    (second,) = [r.value for r in executor.map([WorkUnit("b", pid)])]  # a study's next batch: the same worker
    assert first == second
    executor.close()
    (third,) = [r.value for r in executor.map([WorkUnit("c", pid)])]
    assert third != first
    executor.close()


def test_an_exception_in_a_worker_is_raised_here_with_the_workers_traceback():
    with pytest.raises(KeyError, match="a bug") as caught:
        list(get_executor("processes", workers=1).map([WorkUnit("b", broken, ("a bug",))]))
    assert isinstance(caught.value.__cause__, RemoteTraceback)
    assert "in broken" in caught.value.__cause__.text


def test_a_unit_whose_worker_dies_runs_once_more_and_its_result_lands(tmp_path):
    units = [WorkUnit("dies", die_first_time, (str(tmp_path / "flag"), 7)), WorkUnit("fine", square, (5,))]
    results = {r.name: r for r in get_executor("processes", workers=2).map(units)}
    assert results["dies"].value == 49 and results["dies"].attempts == 2
    assert results["dies"].deaths == ("exited with code 9 before giving a result",)
    assert results["fine"].value == 25 and results["fine"].deaths == ()  # its neighbour's death is not its own


def test_a_unit_whose_worker_dies_twice_is_reported_failed_never_dropped():
    units = [WorkUnit("doomed", always_die, (1,)), WorkUnit("fine", square, (3,))]
    results = {r.name: r for r in get_executor("processes", workers=1).map(units)}
    doomed = results["doomed"]
    assert not doomed.ok and doomed.value is None and doomed.attempts == 2
    assert doomed.failure == ("the worker running 'doomed' died on each of its 2 attempts (exited with code 9 "
                              "before giving a result; then exited with code 9 before giving a result); give it "
                              "more memory, or resume the run to try it again")
    assert results["fine"].value == 9


@pytest.mark.slow
def test_ray_tasks_give_results_raise_the_units_exception_and_retry_a_dead_worker_once(ray_instance, tmp_path):
    executor = get_executor("ray", workers=2)
    units = [WorkUnit("dies", die_first_time, (str(tmp_path / "flag"), 7)), WorkUnit("doomed", always_die, (1,)),
             WorkUnit("fine", square, (5,)), WorkUnit("threads", threads, resources={"cpus": 1})]
    results = {r.name: r for r in executor.map(units)}
    assert results["dies"].value == 49 and results["dies"].attempts == 2
    assert results["dies"].deaths[0].startswith("WorkerCrashedError")
    assert not results["doomed"].ok and results["doomed"].failure.startswith(
        "the worker running 'doomed' died on each of its 2 attempts (WorkerCrashedError")
    assert results["fine"].value == 25 and results["threads"].value == 1
    with pytest.raises(KeyError, match="a bug"):
        list(executor.map([WorkUnit("b", broken, ("a bug",))]))
    executor.close()  # an instance it did not start: left running
    assert ray_instance.is_initialized()
