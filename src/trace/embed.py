#!/usr/bin/env python3
"""embed.py IN OUT NAME - a C header holding the bytes of IN as the array
NAME (NUL-terminated), so that the library carries the observer's page."""
import sys

src, out, name = sys.argv[1:4]
data = open(src, 'rb').read() + b'\0'
with open(out, 'w') as f:
    f.write('/* generated from %s by embed.py: do not edit */\n' % src.split('/')[-1])
    f.write('static const char %s[%d] = {\n' % (name, len(data)))
    for i in range(0, len(data), 16):
        f.write('  ' + ','.join(str(b) for b in data[i:i + 16]) + ',\n')
    f.write('};\n')
