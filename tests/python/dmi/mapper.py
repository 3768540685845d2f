"""A DMI mapper for tests/dmi.rs, built from KubeEdge's own api.proto with
grpcio (as mapper-framework's Go mappers, it dials the edge's socket
without overriding :authority, so the socket path goes as the authority).

Usage: mapper.py <dmi.sock> <mapper.sock> <protocol> <name>
It serves DeviceMapperService on <mapper.sock>, registers with withData,
then reads commands on stdin, one per line, and answers each with one JSON
line on stdout:
  register                          -> {"devices": [...], "models": [...]}
  status <ns> <name> <prop> <value> -> {"ok": true} or {"code": "...", "details": "..."}
  states <ns> <name> <state>        -> likewise
  calls                             -> {"calls": [[method, ns, name], ...]}
  raw <hex>                         -> MapperRegister with these bytes as the body
  big <n>                           -> MapperRegister with an n-byte body
Calls the edge makes to the mapper are recorded for `calls`.
"""
import json
import os
import subprocess
import sys
import tempfile
import threading
from concurrent import futures

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = tempfile.mkdtemp(prefix="hive-dmi-gen-")
subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", HERE, "--python_out=" + GEN, "--grpc_python_out=" + GEN, "api.proto"], check=True)
sys.path.insert(0, GEN)
import api_pb2 as pb  # noqa: E402
import api_pb2_grpc as pbg  # noqa: E402
from google.protobuf import wrappers_pb2  # noqa: E402

dmi_sock, mapper_sock, protocol, name = sys.argv[1:5]
calls = []
lock = threading.Lock()


def any_value(a):
    for t in (wrappers_pb2.StringValue, wrappers_pb2.Int32Value, wrappers_pb2.Int64Value, wrappers_pb2.FloatValue, wrappers_pb2.BoolValue):
        if a.Is(t.DESCRIPTOR):
            m = t()
            a.Unpack(m)
            return m.value
    return "?" + a.type_url


def device_json(d):
    return {
        "name": d.name,
        "namespace": d.namespace,
        "model": d.spec.deviceModelReference,
        "protocol": d.spec.protocol.protocolName,
        "config": {k: any_value(v) for k, v in d.spec.protocol.configData.data.items()},
        "properties": [{"name": p.name, "desired": p.desired.value, "visitors": {k: any_value(v) for k, v in p.visitors.configData.data.items()}} for p in d.spec.properties],
    }


class Mapper(pbg.DeviceMapperServiceServicer):
    def _record(self, method, ns, n, extra=None):
        with lock:
            calls.append([method, ns, n] + ([extra] if extra is not None else []))

    def RegisterDevice(self, req, ctx):
        self._record("RegisterDevice", req.device.namespace, req.device.name, device_json(req.device))
        return pb.RegisterDeviceResponse(deviceName=req.device.name, deviceNamespace=req.device.namespace)

    def UpdateDevice(self, req, ctx):
        self._record("UpdateDevice", req.device.namespace, req.device.name, device_json(req.device))
        return pb.UpdateDeviceResponse()

    def RemoveDevice(self, req, ctx):
        self._record("RemoveDevice", req.deviceNamespace, req.deviceName)
        return pb.RemoveDeviceResponse()

    def CreateDeviceModel(self, req, ctx):
        self._record("CreateDeviceModel", req.model.namespace, req.model.name)
        return pb.CreateDeviceModelResponse(deviceModelName=req.model.name, deviceModelNamespace=req.model.namespace)

    def UpdateDeviceModel(self, req, ctx):
        self._record("UpdateDeviceModel", req.model.namespace, req.model.name)
        return pb.UpdateDeviceModelResponse()

    def RemoveDeviceModel(self, req, ctx):
        self._record("RemoveDeviceModel", req.modelNamespace, req.modelName)
        return pb.RemoveDeviceModelResponse()


if os.path.exists(mapper_sock):
    os.unlink(mapper_sock)
server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
pbg.add_DeviceMapperServiceServicer_to_server(Mapper(), server)
server.add_insecure_port("unix://" + mapper_sock)
server.start()

channel = grpc.insecure_channel("unix://" + dmi_sock)
stub = pbg.DeviceManagerServiceStub(channel)


def answer(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def rpc(f):
    try:
        return {"ok": True, "reply": f()}
    except grpc.RpcError as e:
        return {"code": e.code().name, "details": e.details()}


for line in sys.stdin:
    words = line.split()
    if not words:
        continue
    cmd = words[0]
    if cmd == "register":
        info = pb.MapperInfo(name=name, version="v1.13.0", api_version="v1.0.0", protocol=protocol, address=mapper_sock.encode(), state="ok")
        r = rpc(lambda: stub.MapperRegister(pb.MapperRegisterRequest(withData=True, mapper=info), timeout=5))
        if r.get("ok"):
            resp = r["reply"]
            r = {"ok": True, "devices": [device_json(d) for d in resp.deviceList], "models": [m.name for m in resp.modelList]}
        answer(r)
    elif cmd == "status":
        ns, dev, prop, value = words[1:5]
        twin = pb.Twin(propertyName=prop, reported=pb.TwinProperty(value=value, metadata={"type": "int", "timestamp": ""}), observedDesired=pb.TwinProperty(value="", metadata={"type": "int"}))
        r = rpc(lambda: stub.ReportDeviceStatus(pb.ReportDeviceStatusRequest(deviceName=dev, deviceNamespace=ns, reportedDevice=pb.DeviceStatus(twins=[twin])), timeout=5))
        r.pop("reply", None)
        answer(r)
    elif cmd == "states":
        ns, dev, state = words[1:4]
        r = rpc(lambda: stub.ReportDeviceStates(pb.ReportDeviceStatesRequest(deviceName=dev, deviceNamespace=ns, state=state), timeout=5))
        r.pop("reply", None)
        answer(r)
    elif cmd == "calls":
        with lock:
            answer({"calls": list(calls)})
    elif cmd == "raw":
        raw = channel.unary_unary("/v1beta1.DeviceManagerService/MapperRegister", request_serializer=lambda b: b, response_deserializer=lambda b: b)
        r = rpc(lambda: raw(bytes.fromhex(words[1]) if len(words) > 1 else b"", timeout=5))
        r.pop("reply", None)
        answer(r)
    elif cmd == "big":
        raw = channel.unary_unary("/v1beta1.DeviceManagerService/MapperRegister", request_serializer=lambda b: b, response_deserializer=lambda b: b)
        r = rpc(lambda: raw(bytes(int(words[1])), timeout=10))
        r.pop("reply", None)
        answer(r)
    else:
        answer({"error": "unknown command " + cmd})
server.stop(0)
