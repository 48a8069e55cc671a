#include "cli/app.h"

int main(int argc, char** argv) { return bzzz::cli::run(argc, argv); }
