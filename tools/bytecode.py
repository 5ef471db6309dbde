"""The firmware's source as the file routes compile it (docs/architecture.md,
"Native code on the tick's path"): every `@micropython.native` line blank.

A frozen image keeps the decorators: its machine code runs from flash and
takes no RAM. A .mpy file or a ROMFS image would have its machine code copied
into the heap at import (py/persistentcode.c: MP_PLAT_ALLOC_EXEC), some 20 KB,
so tools/build.py compiles those methods as bytecode. Blank lines keep every
line number of the tracebacks. No imports: the qemu manifest runs this under
the system's python3 (tools/targets/qemu_bytecode.py).
"""

DECORATOR = "@micropython.native"


def bytecode_source(text):
    """text with each line that is only the native decorator made empty."""
    return "\n".join("" if line.strip() == DECORATOR else line for line in text.split("\n"))
