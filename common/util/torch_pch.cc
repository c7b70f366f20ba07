// Compiled only to produce the shared precompiled LibTorch header (see the top CMakeLists.txt).
#include <torch/torch.h>
