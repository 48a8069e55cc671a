// cli: the `bzzz` command line. Parses global options and one subcommand, then runs it.
#pragma once

namespace bzzz::cli {

// Returns the process exit code: 0 success, 1 failure, 2 usage error.
int run(int argc, char** argv);

}  // namespace bzzz::cli
