#ifndef NGSP_VERSION_H
#define NGSP_VERSION_H
#define NGSP_VERSION "0.1.0"
#endif
