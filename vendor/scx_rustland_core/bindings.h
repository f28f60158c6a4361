#include "bpf_h/vmlinux/vmlinux.h"
