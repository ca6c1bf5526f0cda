#include "ngsp_version.h"
const char *ngsp_version = NGSP_VERSION;
