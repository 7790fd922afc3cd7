"""The prediction log under a deployment: a shadow's answers are logged under its role, and after a hot swap
drift is judged on the new primary's answers against its own reference."""

from __future__ import annotations

import pytest
from deploy_support import eventually
from serving_support import serving

from practica.monitoring.log import read_rows
from practica.serving.deployment import Challenger, Deployment

pytestmark = pytest.mark.anyio


def one(image) -> dict:
    return {"inputs": [{"pixels": image.tolist()}]}


async def test_shadow_rows_are_logged_beside_the_primary(cnn, baseline, digit_images, tmp_path):
    db = tmp_path / "log.db"
    async with serving(Deployment(cnn, shadow=Challenger(baseline)), monitor_db=str(db)) as client:
        for image in digit_images:
            assert (await client.post("/v1/predict", json=one(image))).status_code == 200

        async def shadowed() -> bool:
            snapshot = (await client.get("/v1/monitor")).json()
            return snapshot["log"]["recorded_by_this_worker"] == 2 * len(digit_images)

        await eventually(shadowed)
    rows = read_rows(db)
    by_role = {role: [r for r in rows if r.role == role] for role in ("primary", "shadow")}
    assert [len(by_role["primary"]), len(by_role["shadow"])] == [len(digit_images)] * 2
    assert {r.model_version for r in by_role["shadow"]} == {baseline.version}
    assert all(r.ood_score is not None for r in by_role["primary"])


async def test_after_a_swap_the_monitor_follows_the_new_primary(cnn, baseline, digit_images, tmp_path):
    deployment = Deployment(cnn)
    async with serving(deployment, monitor_db=str(tmp_path / "log.db")) as client:
        for image in digit_images:
            await client.post("/v1/predict", json=one(image))
        before = (await client.get("/v1/monitor")).json()
        await deployment.swap_primary(baseline)
        for image in digit_images[:3]:
            await client.post("/v1/predict", json=one(image))
        after = (await client.get("/v1/monitor")).json()
    assert before["model_version"] == cnn.version and before["report"]["rows"] == len(digit_images)
    assert after["model_version"] == baseline.version
    assert after["report"]["rows"] == 3  # the old model's answers are not the new one's drift
