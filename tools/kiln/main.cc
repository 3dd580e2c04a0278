// kiln CLI entry point (the CLI itself is run_cli in app.cc).
#include "tools/kiln/app.h"

int main(int argc, char** argv) { return kiln::cli::run_cli(argc, argv); }
