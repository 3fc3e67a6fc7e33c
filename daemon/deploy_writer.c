/*
 * certfleetd-deploy-writer: the deploy runner's child (deploy_write.c).
 * Not for people: it reads one deploy on stdin and exits 0, or 1 with one
 * line on stderr.
 */
#include "deploy.h"

int
main(void)
{
	return deploy_writer_main();
}
