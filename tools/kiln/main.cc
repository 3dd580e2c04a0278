// kiln CLI entry point (placeholder until the subcommands land).
#include <cstdio>
#include <cstring>

#include "kiln/version.h"

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("kiln %s (%s)\n", KILN_VERSION, KILN_GIT_SHA);
    return 0;
  }
  std::fprintf(stderr, "usage: kiln --version\n");
  return 1;
}
