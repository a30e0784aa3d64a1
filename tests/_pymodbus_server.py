"""A Modbus TCP server built on Debian's pymodbus 3.0, for interoperability tests.

Usage: /usr/bin/python3 _pymodbus_server.py PORT SPEC_JSON

SPEC_JSON: {"size": N, "unit": U, "points": [{"table": "holding"|"input",
"address": A, "type": "int16"|"uint16"|"int32"|"uint32"|"float32",
"order": "ABCD"|"CDAB"|"BADC"|"DCBA", "value": V}, ...]}, V a number or a
string such as "nan" (JSON has no NaN). Each value is
encoded by pymodbus's own BinaryPayloadBuilder; both tables hold N
registers from address 0 (zero_mode), so an address past them is answered
with the exception "illegal data address".
"""

import json
import sys

from pymodbus.constants import Endian
from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.payload import BinaryPayloadBuilder
from pymodbus.server import StartTcpServer

ORDERS = {
    "ABCD": (Endian.Big, Endian.Big),
    "CDAB": (Endian.Big, Endian.Little),
    "BADC": (Endian.Little, Endian.Big),
    "DCBA": (Endian.Little, Endian.Little),
}


def registers(point):
    byteorder, wordorder = ORDERS[point.get("order", "ABCD")]
    builder = BinaryPayloadBuilder(byteorder=byteorder, wordorder=wordorder)
    add = {
        "int16": builder.add_16bit_int,
        "uint16": builder.add_16bit_uint,
        "int32": builder.add_32bit_int,
        "uint32": builder.add_32bit_uint,
        "float32": builder.add_32bit_float,
    }[point["type"]]
    value = point["value"]
    add(float(value) if isinstance(value, str) else value)  # "nan": JSON has no NaN
    return builder.to_registers()


def main():
    port = int(sys.argv[1])
    spec = json.loads(sys.argv[2])
    tables = {"holding": [0] * spec["size"], "input": [0] * spec["size"]}
    for point in spec["points"]:
        values = registers(point)
        table = tables[point["table"]]
        table[point["address"] : point["address"] + len(values)] = values
    device = ModbusSlaveContext(
        hr=ModbusSequentialDataBlock(0, tables["holding"]),
        ir=ModbusSequentialDataBlock(0, tables["input"]),
        zero_mode=True,
    )
    context = ModbusServerContext(slaves={spec.get("unit", 1): device}, single=False)
    print(f"serving on 127.0.0.1:{port}", flush=True)
    StartTcpServer(context=context, address=("127.0.0.1", port))


main()
