#!/usr/bin/env python3
"""make size: the release binary's size per module or library, read from the linker's map.

  size-report.py MAP BINARY [TOP]

MAP is the GNU gold or ld.lld map of the static release link (`-Xlinker -Map=FILE`). Every input
section the linker kept in an allocated output section counts towards the module it came from:
`.build/.../NIOCore.build/X.swift.o` -> NIOCore, `/.../libswiftCore.a(X.o)` -> libswiftCore.a,
`libc.a(...)` -> libc.a. Sections in `.bss`/`.tbss` take no file space and are left out, as are the
debug and symbol sections a stripped binary drops. The remainder to the file size (ELF headers,
padding between sections, the section table) is printed as such. Standard library only.
"""

import collections
import os
import re
import sys

# An input section line of a gold map: " .text.foo  0x0000000000401000  0x1c /path/file.o", or the
# address, size and file on the line after a long section name. ld.lld's map is columns of VMA,
# LMA, size, alignment, then the output section, input section or symbol, indented.
GOLD_INPUT = re.compile(r"^\s(\S+)?\s*0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
LLD_LINE = re.compile(r"^\s*([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+(\d+)\s(\s*)(\S.*)$")
NO_FILE_SPACE = (".bss", ".tbss")
DROPPED = (".debug", ".comment", ".symtab", ".strtab", ".shstrtab", ".note.gnu.gold-version")


def owner(path: str) -> str:
    """The module or library an input file belongs to."""
    path = path.strip()
    archive = re.match(r"^(.*?\.a)\((.*)\)$", path)
    if archive:
        return os.path.basename(archive.group(1))
    build = re.search(r"/([^/]+)\.build/", path)
    if build:
        return build.group(1)
    return os.path.basename(path)


def counted(output_section: str) -> bool:
    return not output_section.startswith(DROPPED) and not output_section.startswith(NO_FILE_SPACE)


OUTPUT_SECTION = re.compile(r"^(\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)")


def parse_gold(lines: list[str]) -> collections.Counter:
    """Input sections by owner, plus what the linker made itself (the unwind tables it merges and
    indexes, `.eh_frame_hdr`, the PLT and GOT) as "linker: SECTION"."""
    sizes: collections.Counter = collections.Counter()
    in_memory_map = False
    output_section = ""
    output_sizes: collections.Counter = collections.Counter()
    attributed: collections.Counter = collections.Counter()
    for line in lines:
        if line.startswith("Memory map"):
            in_memory_map = True
            continue
        if not in_memory_map or not line.strip():
            continue
        if not line.startswith(" "):
            output_section = line.split()[0]  # an output section: ".text  0x...  0x..."
            header = OUTPUT_SECTION.match(line)
            if header and counted(output_section):
                output_sizes[output_section] += int(header.group(3), 16)
            continue
        match = GOLD_INPUT.match(line)
        if match and counted(output_section):
            target = match.group(4)
            if target.startswith("*"):
                continue  # fill, padding, linker-generated
            sizes[owner(target)] += int(match.group(3), 16)
            attributed[output_section] += int(match.group(3), 16)
    for section, size in output_sizes.items():
        if size - attributed[section] > 0:
            sizes[f"linker: {section}"] += size - attributed[section]
    return sizes


def parse_lld(lines: list[str]) -> collections.Counter:
    sizes: collections.Counter = collections.Counter()
    output_section = ""
    for line in lines[1:]:
        match = LLD_LINE.match(line)
        if not match:
            continue
        indent, text = len(match.group(5)), match.group(6)
        size = int(match.group(3), 16)
        if indent == 0:
            output_section = text.split()[0]
        elif indent <= 8 and counted(output_section) and ":(" in text:
            # "path/file.o:(.text.foo)" or "lib.a(member.o):(.rodata)"
            sizes[owner(text.rsplit(":(", 1)[0])] += size
    return sizes


def main() -> None:
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: size-report.py MAP BINARY [TOP]")
    map_path, binary, top = sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else 25
    try:
        with open(map_path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
        file_size = os.path.getsize(binary)
    except OSError as error:
        sys.exit(f"size-report: {error}")
    lld = bool(lines) and lines[0].split()[:3] == ["VMA", "LMA", "Size"]
    sizes = parse_lld(lines) if lld else parse_gold(lines)
    if not sizes:
        sys.exit(f"size-report: no input sections found in {map_path}: not a gold or lld map?")
    total = sum(sizes.values())
    print(f"{binary}: {file_size} bytes ({file_size / 1e6:.2f} MB), by module or library ({'lld' if lld else 'gold'} map):")
    print(f"{'bytes':>12} {'share':>6}  module or library")
    for name, size in sizes.most_common(top):
        print(f"{size:>12} {100 * size / file_size:5.1f}%  {name}")
    rest = sizes.most_common()[top:]
    if rest:
        print(f"{sum(size for _, size in rest):>12} {100 * sum(size for _, size in rest) / file_size:5.1f}%  {len(rest)} more")
    print(f"{file_size - total:>12} {100 * (file_size - total) / file_size:5.1f}%  ELF headers, page alignment, section table")


if __name__ == "__main__":
    main()
