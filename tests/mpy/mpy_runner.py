# Runs selected test functions of one test file inside MicroPython and reports
# each through marker lines that the pytest plugin (tests/conftest.py) reads.
# usage: micropython mpy_runner.py FILE NAME [NAME ...]
import sys
import gc
import io
import time

MARK = "@@MPYTEST@@ "


def emit(kind, name, status="", detail="", us=0):
    sys.stdout.write(MARK)
    sys.stdout.write(repr((kind, name, status, detail, us)))
    sys.stdout.write("\n")


def main():
    path = sys.argv[1]
    names = sys.argv[2:]
    slash = path.rfind("/")
    sys.path.insert(0, path[:slash] if slash > 0 else ".")
    modname = path[slash + 1:]
    if modname.endswith(".py"):
        modname = modname[:-3]
    try:
        mod = __import__(modname)
    except BaseException as e:
        buf = io.StringIO()
        sys.print_exception(e, buf)
        emit("import_error", modname, "fail", buf.getvalue())
        return
    import mpytest
    setup = getattr(mod, "setup_function", None)
    for name in names:
        emit("start", name)
        gc.collect()
        t0 = time.ticks_us()
        status = "pass"
        detail = ""
        try:
            if setup:
                setup(None)
            r = getattr(mod, name)()
            if hasattr(r, "send"):
                import asyncio
                asyncio.run(r)
        except mpytest.SkipTest as e:
            status = "skip"
            detail = str(e)
        except BaseException as e:  # SystemExit too: one test must not end the file
            status = "fail"
            buf = io.StringIO()
            sys.print_exception(e, buf)
            detail = buf.getvalue()
        mpytest._unlock()
        emit("end", name, status, detail, time.ticks_diff(time.ticks_us(), t0))


main()
