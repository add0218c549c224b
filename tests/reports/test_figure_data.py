"""Result rows -> the tidy frames the figures draw (`reports.figure_data`)."""

from __future__ import annotations

from reports import figure_data


def sweep_row(depth, data="affectnet:/data/affectnet", batch_size=16, amp="off", device="cpu (x86_64)",
              task="categorical"):
    config = {"model": f"bregnext{depth}", "arrangement": "bregnext", "depth": depth, "task": task, "data": data,
              "epochs": 1, "image_size": 32, "flops_input_size": 64, "batch_size": batch_size, "steps": 2,
              "device": "cpu", "amp": amp, "channels_last": False, "bypass_impl": "eager", "seed": 0}
    metrics = {"depth": depth, "params_trainable": 1e6, "flops": 1e8, "step_s": 0.02}
    metrics |= ({"val_accuracy": 0.625, "val_macro_f1": 0.5} if task == "categorical" else
                {"val_rmse_valence": 0.3, "val_rmse_total": 0.31})
    return {"run_id": "x", "command": "depth_sweep", "config": config, "metrics": metrics, "timings": {},
            "env": {"device": device, "git_commit": "abc1234"}}


def measured(frame):
    return frame[frame["source"] == "measured"]


def test_depth_result_keys_name_the_data_set_not_its_path():
    for spec, name in (("affectnet:/srv/data/AffectNet", "affectnet"), ("fer2013:/tmp/fer2013.csv", "fer2013"),
                       ("synth", "synth")):
        frame = measured(figure_data.depth_results([sweep_row(50, data=spec)]))
        assert set(frame["metric"]) == {f"{name}_accuracy", f"{name}_macro_f1"}
    dims = measured(figure_data.depth_results([sweep_row(32, data="affwild:/d/aff", task="dimensional")]))
    assert set(dims["metric"]) == {"affwild_rmse_valence", "affwild_rmse_total"}


def test_measured_accuracy_is_in_percent_as_published():
    frame = figure_data.depth_results([sweep_row(50)]).set_index(["source", "depth", "metric"])["value"]
    assert frame[("measured", 50, "affectnet_accuracy")] == 62.5
    assert frame[("published", 50, "affectnet_accuracy")] == 68.50  # BReG-NeXt50, printed in percent
    assert frame[("measured", 50, "affectnet_macro_f1")] == 0.5  # nothing published to match: left as computed


def test_cost_lines_part_where_the_config_changes_the_quantity():
    rows = [sweep_row(d, batch_size=b, amp=a) for d in (26, 50) for b, a in ((16, "off"), (128, "bf16"))]
    frame = measured(figure_data.depth_cost(rows))
    labels = frame.groupby("quantity")["label"].unique().map(sorted).to_dict()
    assert labels["params"] == ["bregnext"] and labels["flops"] == ["bregnext"]
    assert labels["step_time_ms"] == ["bregnext, batch 128, amp bf16", "bregnext, batch 16, amp off"]
    assert set(frame["device"]) == {"cpu (x86_64)"} and set(frame["commit"]) == {"abc1234"}


def test_cost_lines_part_by_device():
    rows = [sweep_row(26, device="NVIDIA H100"), sweep_row(26, device="NVIDIA H200")]
    step = measured(figure_data.depth_cost(rows)).query("quantity == 'step_time_ms'")
    assert sorted(step["label"]) == ["bregnext, NVIDIA H100", "bregnext, NVIDIA H200"]


def test_gradient_ratios_carry_device_and_budget():
    row = {"config": {"depth": 14, "bypass": "identity", "bn": "frozen", "batch": 8, "input_size": 8,
                      "dtype": "float32", "steps": 0},
           "metrics": {"init": {"log10_grad_ratio": 0.5}}, "env": {"device": "cpu (arm)", "git_commit": "c0ffee1"}}
    frame = figure_data.gradient_ratios([row])
    assert frame.loc[0, "panel"] == "batch norm: frozen" and frame.loc[0, "device"] == "cpu (arm)"
    assert frame.loc[0, "commit"] == "c0ffee1" and "batch 8" in frame.loc[0, "budget"]
