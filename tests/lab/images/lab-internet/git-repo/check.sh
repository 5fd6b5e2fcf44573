#!/bin/sh
# A job script for lab tests: proves the clone worked.
echo "lab repository checked out"
