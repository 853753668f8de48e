#!/usr/bin/env bash
# Placeholder until the tool setup lands: nothing to build yet.
exit 0
