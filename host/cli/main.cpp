#include "cli/commands.hpp"

int main(int argc, char** argv) { return juniper::cli::run(argc, argv); }
