# Cross-compiling Tessera for ARM64 Linux on a Debian x86-64 machine
# (`make neon-check`): Debian's gcc-aarch64-linux-gnu, and the arm64
# multiarch libraries (dpkg --add-architecture arm64; libcmocka-dev:arm64
# and the other -dev:arm64 packages the configure step looks for) under
# /usr/lib/aarch64-linux-gnu. The binaries run under qemu-aarch64 -L
# /usr/aarch64-linux-gnu. On an ARM64 machine none of this is needed: a
# plain build compiles the NEON paths natively.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# Libraries and headers from the target's directories only; programs
# (python3, pkg-config) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

# ctest and add_test run the cross-built programs through the emulator.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-cpu;max)
