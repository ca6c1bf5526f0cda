/*
 * The one version of ngsp: the module, its tools and its package.
 */

#ifndef NGSP_VERSION_H
#define NGSP_VERSION_H

#define NGSP_VERSION  "0.1.0"

#endif /* NGSP_VERSION_H */
