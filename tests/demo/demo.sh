#!/bin/sh
echo "demo: not written yet" >&2
exit 1
