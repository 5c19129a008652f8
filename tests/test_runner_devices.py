"""Device, dtype and launcher decisions, with the device layer faked; real-device checks are marked cuda/npu."""

import pytest

from lfgate.runner import devices


class FakeProbe:
    def __init__(self, env=None, cuda=None, npu=None):
        self.env = env or {}
        self._cuda, self._npu = cuda, npu

    def cuda(self):
        return self._cuda

    def npu(self):
        return self._npu


A100 = (2, ["NVIDIA A100-SXM4-80GB"] * 2, [(8, 0), (8, 0)])
V100 = (1, ["Tesla V100-SXM2-32GB"], [(7, 0)])


def test_cpu_fallback_warns_and_trains_in_fp32():
    machine = devices.detect(FakeProbe())
    assert (machine.kind, machine.count) == ("cpu", 1)
    assert any("CPU" in n for n in machine.notes)
    p = devices.choose_precision(machine, bf16=True, fp16=False)
    assert p.dtype == "fp32" and "fp32" in p.note
    assert devices.choose_precision(machine, False, False).note is None


def test_ampere_keeps_bf16():
    machine = devices.detect(FakeProbe(cuda=A100))
    assert (machine.kind, machine.count, machine.bf16) == ("cuda", 2, True)
    assert devices.choose_precision(machine, bf16=True, fp16=False) == devices.Precision("bf16")


def test_pre_ampere_gpu_falls_back_to_fp16_saying_so():
    machine = devices.detect(FakeProbe(cuda=V100))
    p = devices.choose_precision(machine, bf16=True, fp16=False)
    assert p.dtype == "fp16" and "V100" in p.note
    assert devices.choose_precision(machine, bf16=False, fp16=True).dtype == "fp16"


@pytest.mark.parametrize("name,bf16", [("Ascend910B2", True), ("Ascend910B4", True), ("Ascend910_9392", True),
                                       ("Ascend910A", False), ("Ascend910ProB", False)])
def test_ascend_bf16_only_on_910b(name, bf16):
    machine = devices.detect(FakeProbe(npu=(1, [name], devices.is_910b(name))))
    assert machine.kind == "npu" and machine.bf16 is bf16
    assert devices.choose_precision(machine, bf16=True, fp16=False).dtype == ("bf16" if bf16 else "fp16")


def test_cuda_visible_devices_alone_on_ascend_warns():
    probe = FakeProbe(env={"CUDA_VISIBLE_DEVICES": "0,1"}, npu=(8, ["Ascend910B2"] * 8, True))
    assert any("ASCEND_RT_VISIBLE_DEVICES" in n for n in devices.detect(probe).notes)
    probe = FakeProbe(env={"CUDA_VISIBLE_DEVICES": "0", "ASCEND_RT_VISIBLE_DEVICES": "0"},
                      npu=(1, ["Ascend910B2"], True))
    assert devices.detect(probe).notes == []


def test_npu_wins_over_cuda_and_uses_hccl():
    machine = devices.detect(FakeProbe(cuda=A100, npu=(2, ["Ascend910B2"] * 2, True)))
    assert machine.kind == "npu"
    assert devices.distributed_backend(machine) == "hccl"
    assert devices.distributed_backend(devices.detect(FakeProbe(cuda=A100))) == "nccl"


def test_several_devices_launch_torchrun_with_llamafactory_env():
    machine = devices.detect(FakeProbe(cuda=A100))
    env = {"NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29501"}
    assert devices.needs_torchrun(env, machine)
    cmd = devices.torchrun_command(env, machine, ["train.yaml", "learning_rate=1e-4"], python="py")
    from lfgate.subprocesses import shown

    # each `-m` runs through subprocesses.BOOT (the working directory off sys.path: issue 21)
    assert shown(cmd) == ("py -m torch.distributed.run --nnodes 2 --node_rank 1 --nproc_per_node 2 --master_addr "
                          "10.0.0.1 --master_port 29501 --no-python py -u -m lfgate.runner.launch train.yaml "
                          "learning_rate=1e-4")


def test_one_device_or_inside_torchrun_runs_in_process():
    one = devices.detect(FakeProbe(cuda=V100))
    assert not devices.needs_torchrun({}, one)
    assert devices.needs_torchrun({"FORCE_TORCHRUN": "1"}, one)
    two = devices.detect(FakeProbe(cuda=A100))
    assert not devices.needs_torchrun({"LOCAL_RANK": "0", "WORLD_SIZE": "2"}, two)
    assert devices.world({"NPROC_PER_NODE": "1"}, two)["nproc_per_node"] == "1"


@pytest.mark.cuda
def test_real_cuda_device_is_detected():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    machine = devices.detect()
    assert machine.kind == "cuda" and machine.count == torch.cuda.device_count()
    assert machine.bf16 == torch.cuda.is_bf16_supported()


@pytest.mark.npu
def test_real_npu_is_detected():
    pytest.importorskip("torch_npu")
    machine = devices.detect()
    if machine.kind != "npu":
        pytest.skip("no Ascend NPU")
    assert machine.count >= 1 and machine.names


def test_hub_model_not_in_cache_while_offline_is_rn012(tmp_path, monkeypatch):
    from lfgate.runner import rules
    from lfgate.runner.config import RunConfig

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    machine = devices.detect(FakeProbe())
    precision = devices.choose_precision(machine, False, False)
    config = RunConfig("t.yaml", {"model_name_or_path": "someone/not-cached", "cache_dir": str(tmp_path)})
    found = rules.machine_checks(config, machine, precision, builtin=True)
    assert [d.code for d in found] == ["RN012"] and "not in the local cache" in found[0].message
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert rules.machine_checks(config, machine, precision, builtin=True) == []


def test_a_small_model_trains_on_one_cpu_thread_unless_omp_num_threads_says_otherwise():
    from lfgate.runner.devices import approximate_parameters, cpu_threads

    tiny = {"hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 256, "vocab_size": 644}
    big = {"hidden_size": 896, "num_hidden_layers": 24, "intermediate_size": 4864, "vocab_size": 151936}  # 0.5B
    assert approximate_parameters(tiny) < 1_000_000 and approximate_parameters(big) > 400_000_000
    assert cpu_threads(tiny, {}) == 1
    assert cpu_threads(big, {}) is None and cpu_threads({"text_config": big}, {}) is None
    assert cpu_threads(tiny, {"OMP_NUM_THREADS": "4"}) is None  # the user's choice wins
    assert cpu_threads({}, {}) is None and cpu_threads({"hidden_size": "x"}, {}) is None
