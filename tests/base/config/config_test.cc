#include "base/config/config.h"

#include <stdlib.h>

#include <chrono>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/temp_dir.h"

namespace bzzz::config {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// A node-like schema with one option of every kind.
Schema node_schema() {
  Schema schema;
  schema.add({.key = "data", .default_value = "/var/lib/bzzz", .help = "data directory"})
      .add({.key = "api.listen", .kind = Kind::kHostPort, .default_value = "127.0.0.1:8080",
            .help = "HTTP API address"})
      .add({.key = "api.token", .help = "API bearer token", .secret = true})
      .add({.key = "store.compress", .kind = Kind::kBool, .default_value = "true",
            .help = "compress blobs"})
      .add({.key = "store.min_savings", .kind = Kind::kDouble, .default_value = "0.1",
            .help = "least saving worth compressing", .min = 0.0, .max = 1.0})
      .add({.key = "store.max_size", .kind = Kind::kBytes, .default_value = "1GiB",
            .help = "store size cap"})
      .add({.key = "gc.grace", .kind = Kind::kDuration, .default_value = "1h",
            .help = "how long unpinned blobs live", .min = 1.0})
      .add({.key = "workers", .kind = Kind::kInt, .default_value = "4", .help = "worker threads",
            .min = 1.0, .max = 64.0})
      .add({.key = "log.level", .kind = Kind::kEnum, .default_value = "info",
            .help = "log level", .choices = {"debug", "info", "warn", "error"}})
      .add({.key = "p2p.bootstrap", .kind = Kind::kList, .help = "peers to dial first"});
  return schema;
}

class ConfigTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& content) {
    std::string path = dir_.sub(name);
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  // Writes `yaml` as the config file and loads it with the given env and flags.
  Result<Config> load_yaml(const std::string& yaml, std::map<std::string, std::string> env = {},
                           std::vector<Flag> flags = {}) {
    write("bzzz.yaml", yaml);
    return load(schema_, Inputs{yaml_path_, std::move(env), std::move(flags)});
  }
  std::string error_of(const Result<Config>& result) {
    EXPECT_FALSE(result.has_value());
    return result ? std::string() : result.error().message();
  }

  testing::TempDir dir_;
  Schema schema_ = node_schema();
  // Fixed up front, so an expectation may name it in the same expression as the load.
  std::string yaml_path_ = dir_.sub("bzzz.yaml");
};

TEST(Option, EnvironmentNameIsTheKeyUppercasedWithUnderscores) {
  EXPECT_EQ((Option{.key = "api.listen"}.env_name()), "BZZZ_API_LISTEN");
  EXPECT_EQ((Option{.key = "store.min_savings"}.env_name()), "BZZZ_STORE_MIN_SAVINGS");
  EXPECT_EQ((Option{.key = "data"}.env_name()), "BZZZ_DATA");
}

TEST_F(ConfigTest, WithNoInputsEveryOptionHasItsDefault) {
  auto config = load(schema_, Inputs{});
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_EQ(config->string("data"), "/var/lib/bzzz");
  EXPECT_EQ(config->host_port("api.listen").host, "127.0.0.1");
  EXPECT_EQ(config->host_port("api.listen").port, 8080);
  EXPECT_EQ(config->string("api.listen"), "127.0.0.1:8080");
  EXPECT_EQ(config->string("api.token"), "");
  EXPECT_TRUE(config->boolean("store.compress"));
  EXPECT_DOUBLE_EQ(config->number("store.min_savings"), 0.1);
  EXPECT_EQ(config->bytes("store.max_size"), 1ull << 30);
  EXPECT_EQ(config->duration("gc.grace"), 1h);
  EXPECT_EQ(config->integer("workers"), 4);
  EXPECT_EQ(config->string("log.level"), "info");
  EXPECT_THAT(config->list("p2p.bootstrap"), IsEmpty());
  EXPECT_EQ(config->setting("workers").source, Source::kDefault);
  EXPECT_EQ(config->setting("workers").origin, "default");
}

TEST_F(ConfigTest, FileThenEnvironmentThenFlagsEachOverrideTheLayerBelow) {
  auto config = load_yaml(
      "data: /srv/bzzz\n"
      "workers: 8\n"
      "log:\n"
      "  level: warn\n",
      {{"BZZZ_WORKERS", "16"}, {"BZZZ_LOG_LEVEL", "error"}},
      {{"log.level", "debug", "--set log.level"}});
  ASSERT_TRUE(config.has_value()) << config.error().message();

  EXPECT_EQ(config->string("data"), "/srv/bzzz");
  EXPECT_EQ(config->setting("data").source, Source::kFile);
  EXPECT_EQ(config->setting("data").origin, yaml_path_ + ":1");

  EXPECT_EQ(config->integer("workers"), 16);
  EXPECT_EQ(config->setting("workers").source, Source::kEnv);
  EXPECT_EQ(config->setting("workers").origin, "BZZZ_WORKERS");

  EXPECT_EQ(config->string("log.level"), "debug");
  EXPECT_EQ(config->setting("log.level").source, Source::kFlag);
  EXPECT_EQ(config->setting("log.level").origin, "--set log.level");

  EXPECT_EQ(config->setting("gc.grace").source, Source::kDefault);
  EXPECT_EQ(source_name(Source::kEnv), "env");
}

TEST_F(ConfigTest, LaterFlagsWinAndAFlagWithoutOriginIsCalledSet) {
  auto config = load(schema_, Inputs{std::nullopt, {},
                                     {{"data", "/a", "--data"}, {"data", "/b", ""}}});
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_EQ(config->string("data"), "/b");
  EXPECT_EQ(config->setting("data").origin, "--set data");
}

TEST_F(ConfigTest, NestedMapsAndDottedKeysMeanTheSameOption) {
  auto config = load_yaml(
      "store:\n"
      "  max_size: 64MiB\n"
      "store.compress: off\n"
      "gc: {grace: 30m}\n");
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_EQ(config->bytes("store.max_size"), 64ull << 20);
  EXPECT_FALSE(config->boolean("store.compress"));
  EXPECT_EQ(config->duration("gc.grace"), 30min);
}

TEST_F(ConfigTest, YamlNullMeansNotSetHere) {
  auto config = load_yaml(
      "api:\n"
      "  listen: ~\n"
      "workers:\n"
      "log:\n");
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_EQ(config->string("api.listen"), "127.0.0.1:8080");
  EXPECT_EQ(config->setting("workers").source, Source::kDefault);
}

TEST_F(ConfigTest, EmptyFileSetsNothing) {
  auto config = load_yaml("");
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_EQ(config->setting("data").source, Source::kDefault);
}

TEST_F(ConfigTest, ListIsASequenceInTheFileAndCommaSeparatedElsewhere) {
  auto from_file = load_yaml(
      "p2p:\n"
      "  bootstrap:\n"
      "    - /ip4/10.0.0.1/tcp/4001\n"
      "    - /ip4/10.0.0.2/tcp/4001\n");
  ASSERT_TRUE(from_file.has_value()) << from_file.error().message();
  EXPECT_THAT(from_file->list("p2p.bootstrap"),
              ElementsAre("/ip4/10.0.0.1/tcp/4001", "/ip4/10.0.0.2/tcp/4001"));

  auto from_env = load(schema_, Inputs{std::nullopt, {{"BZZZ_P2P_BOOTSTRAP", " a, b ,c"}}, {}});
  ASSERT_TRUE(from_env.has_value()) << from_env.error().message();
  EXPECT_THAT(from_env->list("p2p.bootstrap"), ElementsAre("a", "b", "c"));

  // An empty variable is set, and empties a list the file filled.
  auto emptied = load_yaml("p2p.bootstrap: [x, y]\n", {{"BZZZ_P2P_BOOTSTRAP", ""}});
  ASSERT_TRUE(emptied.has_value()) << emptied.error().message();
  EXPECT_THAT(emptied->list("p2p.bootstrap"), IsEmpty());
}

TEST_F(ConfigTest, SecretFromYamlFileKeyLosesExactlyOneTrailingNewline) {
  std::string token = write("token", "s3cret\n");
  auto config = load_yaml("api:\n  token_file: " + token + "\n");
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_EQ(config->string("api.token"), "s3cret");
  EXPECT_EQ(config->setting("api.token").source, Source::kFile);
  EXPECT_EQ(config->setting("api.token").origin,
            "file " + token + " (" + yaml_path_ + ":2)");

  write("token", "s3cret\r\n");
  EXPECT_EQ(load_yaml("api.token_file: " + token + "\n")->string("api.token"), "s3cret");
  write("token", "s3cret\n\n");
  EXPECT_EQ(load_yaml("api.token_file: " + token + "\n")->string("api.token"), "s3cret\n");
  write("token", "no newline");
  EXPECT_EQ(load_yaml("api.token_file: " + token + "\n")->string("api.token"), "no newline");
}

TEST_F(ConfigTest, SecretFromEnvironmentFileVariable) {
  std::string token = write("token", "from-docker\n");
  auto config = load(schema_, Inputs{std::nullopt, {{"BZZZ_API_TOKEN_FILE", token}}, {}});
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_EQ(config->string("api.token"), "from-docker");
  EXPECT_EQ(config->setting("api.token").source, Source::kEnv);
  EXPECT_EQ(config->setting("api.token").origin, "file " + token + " (BZZZ_API_TOKEN_FILE)");
}

TEST_F(ConfigTest, SecretAndItsFileInDifferentLayersFollowPrecedence) {
  std::string token = write("token", "env-wins\n");
  auto config = load_yaml("api.token: file-value\n", {{"BZZZ_API_TOKEN_FILE", token}});
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_EQ(config->string("api.token"), "env-wins");
}

TEST_F(ConfigTest, SecretAndItsFileInTheSameLayerIsAnError) {
  std::string token = write("token", "t\n");
  EXPECT_THAT(error_of(load_yaml("api:\n  token: a\n  token_file: " + token + "\n")),
              HasSubstr("api.token: both api.token (line 2) and api.token_file (line 3)"));
  EXPECT_THAT(
      error_of(load(schema_, Inputs{std::nullopt,
                                    {{"BZZZ_API_TOKEN", "a"}, {"BZZZ_API_TOKEN_FILE", token}},
                                    {}})),
      HasSubstr("both BZZZ_API_TOKEN and BZZZ_API_TOKEN_FILE are set"));
  EXPECT_THAT(error_of(load(schema_, Inputs{std::nullopt, {},
                                            {{"api.token", "a", ""},
                                             {"api.token_file", token, ""}}})),
              HasSubstr("both api.token and api.token_file are given as flags"));
}

TEST_F(ConfigTest, MissingOrEmptySecretFileIsAnErrorNamingPathAndVariable) {
  std::string missing = dir_.sub("nope");
  auto result = load(schema_, Inputs{std::nullopt, {{"BZZZ_API_TOKEN_FILE", missing}}, {}});
  EXPECT_EQ(error_of(result),
            "config: api.token: cannot read secret file " + missing +
                " (named by environment variable BZZZ_API_TOKEN_FILE): No such file or "
                "directory");
  EXPECT_EQ(result.error().code(), ErrorCode::kNotFound);

  std::string empty = write("empty", "\n");
  EXPECT_EQ(error_of(load_yaml("api.token_file: " + empty + "\n")),
            "config: api.token: secret file " + empty + " (named by api.token_file at " +
                yaml_path_ + ":1) is empty");
}

TEST_F(ConfigTest, UnknownYamlKeyIsAnErrorNamingKeyFileAndLine) {
  EXPECT_EQ(error_of(load_yaml("data: /x\napi:\n  lisen: 1.2.3.4:80\n")),
            "config: unknown key \"api.lisen\" at " + yaml_path_ + ":3");
  EXPECT_EQ(error_of(load_yaml("colour: blue\n")),
            "config: unknown key \"colour\" at " + yaml_path_ + ":1");
}

TEST_F(ConfigTest, UnknownBzzzEnvironmentVariablesAreIgnored) {
  auto config = load(schema_, Inputs{std::nullopt, {{"BZZZ_BIN", "/usr/bin/bzzz"}}, {}});
  EXPECT_TRUE(config.has_value());
}

TEST_F(ConfigTest, UnknownFlagIsAnError) {
  EXPECT_EQ(error_of(load(schema_, Inputs{std::nullopt, {}, {{"api.lisen", "x", ""}}})),
            "config: unknown option \"api.lisen\" (from --set api.lisen)");
}

TEST_F(ConfigTest, MapWhereAValueBelongsAndViceVersaAreErrors) {
  EXPECT_EQ(error_of(load_yaml("api:\n  listen:\n    host: x\n")),
            "config: api.listen: expected a value, found a map at " + yaml_path_ + ":2");
  EXPECT_EQ(error_of(load_yaml("api: 5\n")),
            "config: api: expected a map of options, found a value at " + yaml_path_ + ":1");
  EXPECT_EQ(error_of(load_yaml("workers: [1, 2]\n")),
            "config: workers: expected a single value, found a sequence at " + yaml_path_ + ":1");
  EXPECT_THAT(error_of(load_yaml("- a\n- b\n")), HasSubstr("expected a map of options"));
}

TEST_F(ConfigTest, KeyGivenTwiceInTheFileIsAnError) {
  EXPECT_EQ(error_of(load_yaml("api.listen: a:1\napi:\n  listen: b:2\n")),
            "config: api.listen: given twice in " + yaml_path_ + " (lines 1 and 3)");
}

TEST_F(ConfigTest, BadValueNamesKeyValueExpectationAndWhereItCameFrom) {
  EXPECT_EQ(error_of(load_yaml("data: /x\napi:\n  listen: abc\n")),
            "config: api.listen: \"abc\" from " + yaml_path_ +
                ":3 is not host:port: missing :port");
  EXPECT_EQ(error_of(load(schema_, Inputs{std::nullopt, {{"BZZZ_API_LISTEN", "abc"}}, {}})),
            "config: api.listen: \"abc\" from environment BZZZ_API_LISTEN is not host:port: "
            "missing :port");
  EXPECT_EQ(error_of(load(schema_, Inputs{std::nullopt, {}, {{"workers", "many", ""}}})),
            "config: workers: \"many\" from flag --set workers is not an integer");
}

TEST_F(ConfigTest, ABadValueInALowerLayerIsAnErrorEvenIfOverridden) {
  EXPECT_THAT(error_of(load_yaml("workers: lots\n", {{"BZZZ_WORKERS", "2"}})),
              HasSubstr("\"lots\" from " + yaml_path_ + ":1 is not an integer"));
}

TEST_F(ConfigTest, BoundsAndChoicesAreChecked) {
  EXPECT_EQ(error_of(load(schema_, Inputs{std::nullopt, {{"BZZZ_WORKERS", "0"}}, {}})),
            "config: workers: \"0\" from environment BZZZ_WORKERS is not at least 1");
  EXPECT_EQ(error_of(load(schema_, Inputs{std::nullopt, {{"BZZZ_STORE_MIN_SAVINGS", "1.5"}}, {}})),
            "config: store.min_savings: \"1.5\" from environment BZZZ_STORE_MIN_SAVINGS is not "
            "at most 1");
  EXPECT_EQ(error_of(load(schema_, Inputs{std::nullopt, {{"BZZZ_GC_GRACE", "500ms"}}, {}})),
            "config: gc.grace: \"500ms\" from environment BZZZ_GC_GRACE is not at least 1s");
  EXPECT_EQ(error_of(load(schema_, Inputs{std::nullopt, {{"BZZZ_LOG_LEVEL", "loud"}}, {}})),
            "config: log.level: \"loud\" from environment BZZZ_LOG_LEVEL is not one of debug, "
            "info, warn, error");
}

TEST(ConfigSecrets, ABadSecretValueIsNeverShown) {
  Schema schema;
  schema.add({.key = "pin", .kind = Kind::kInt, .default_value = "0", .secret = true});
  auto result = load(schema, Inputs{std::nullopt, {{"BZZZ_PIN", "hunter2"}}, {}});
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().message(),
            "config: pin: <redacted> from environment BZZZ_PIN is not a valid int");
  EXPECT_THAT(result.error().message(), Not(HasSubstr("hunter2")));
}

TEST_F(ConfigTest, MalformedYamlIsAnErrorNamingFileAndLine) {
  auto result = load_yaml("data: /x\napi: [1,\nworkers: 2\n");
  EXPECT_THAT(error_of(result), HasSubstr("config: " + yaml_path_ + ":4:"));
  EXPECT_THAT(result.error().message(), HasSubstr("malformed YAML"));
  EXPECT_THAT(error_of(load_yaml("a: b: c\n")), HasSubstr(yaml_path_ + ":1:"));
}

TEST_F(ConfigTest, MissingConfigFileIsAnErrorNamingIt) {
  std::string missing = dir_.sub("absent.yaml");
  auto result = load(schema_, Inputs{missing, {}, {}});
  EXPECT_EQ(error_of(result),
            "config: cannot read config file " + missing + ": No such file or directory");
  EXPECT_EQ(result.error().code(), ErrorCode::kNotFound);
}

TEST(ConfigRender, TextIsAlignedWithOriginsAndRedactsSetSecrets) {
  Schema schema;
  schema.add({.key = "data", .default_value = "/var/lib/bzzz"})
      .add({.key = "api.token", .secret = true})
      .add({.key = "api.listen", .kind = Kind::kHostPort, .default_value = "127.0.0.1:8080"});

  auto set = load(schema, Inputs{std::nullopt, {{"BZZZ_API_TOKEN", "hunter2"}}, {}});
  ASSERT_TRUE(set.has_value());
  EXPECT_EQ(set->render_text(),
            "data       = /var/lib/bzzz   # default\n"
            "api.token  = <redacted>      # BZZZ_API_TOKEN\n"
            "api.listen = 127.0.0.1:8080  # default\n");

  auto unset = load(schema, Inputs{});
  ASSERT_TRUE(unset.has_value());
  EXPECT_THAT(unset->render_text(), HasSubstr("api.token  =                 # default\n"));
  EXPECT_THAT(unset->render_text(), Not(HasSubstr("redacted")));
}

TEST_F(ConfigTest, JsonHasTypedValuesSourcesAndOrigins) {
  auto config = load_yaml("p2p.bootstrap: [a, b]\nstore.max_size: 2KiB\n",
                          {{"BZZZ_API_TOKEN", "hunter2"}, {"BZZZ_GC_GRACE", "90s"}});
  ASSERT_TRUE(config.has_value()) << config.error().message();
  nlohmann::json json = config->render_json();

  EXPECT_EQ(json["workers"]["value"], 4);
  EXPECT_TRUE(json["workers"]["value"].is_number_integer());
  EXPECT_EQ(json["workers"]["source"], "default");
  EXPECT_EQ(json["workers"]["origin"], "default");
  EXPECT_EQ(json["store.compress"]["value"], true);
  EXPECT_DOUBLE_EQ(json["store.min_savings"]["value"].get<double>(), 0.1);
  EXPECT_EQ(json["store.max_size"]["value"], 2048);
  EXPECT_EQ(json["store.max_size"]["source"], "file");
  EXPECT_EQ(json["store.max_size"]["origin"], yaml_path_ + ":2");
  EXPECT_DOUBLE_EQ(json["gc.grace"]["value"].get<double>(), 90.0);
  EXPECT_EQ(json["gc.grace"]["source"], "env");
  EXPECT_EQ(json["gc.grace"]["origin"], "BZZZ_GC_GRACE");
  EXPECT_EQ(json["p2p.bootstrap"]["value"], nlohmann::json::array({"a", "b"}));
  EXPECT_EQ(json["api.listen"]["value"], "127.0.0.1:8080");
  EXPECT_EQ(json["log.level"]["value"], "info");
  EXPECT_EQ(json["api.token"]["value"], "<redacted>");
  EXPECT_THAT(json.dump(), Not(HasSubstr("hunter2")));
}

TEST(ConfigEnvironment, KeepsOnlyBzzzVariables) {
  ::setenv("BZZZ_CONFIG_TEST_VAR", "x=y", 1);
  ::setenv("NOT_BZZZ_CONFIG_TEST_VAR", "z", 1);
  auto env = environment();
  EXPECT_EQ(env["BZZZ_CONFIG_TEST_VAR"], "x=y");
  EXPECT_EQ(env.count("NOT_BZZZ_CONFIG_TEST_VAR"), 0u);
  ::unsetenv("BZZZ_CONFIG_TEST_VAR");
  ::unsetenv("NOT_BZZZ_CONFIG_TEST_VAR");
}

TEST(ConfigDeathTest, ProgrammerErrorsAbort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Schema schema = node_schema();
  EXPECT_DEATH(schema.add({.key = "data"}), "added twice");
  EXPECT_DEATH(schema.add({.key = "bad", .kind = Kind::kInt, .default_value = "x"}),
               "default of bad");
  EXPECT_DEATH(schema.add({.key = "Bad-Key"}), "invalid option key");
  EXPECT_DEATH(schema.add({.key = "api.token_file"}), "_file form of a secret");
  auto config = load(schema, Inputs{});
  ASSERT_TRUE(config.has_value());
  EXPECT_DEATH((void)config->integer("data"), "getter of another kind");
  EXPECT_DEATH((void)config->string("nope"), "unknown option nope");
}

}  // namespace
}  // namespace bzzz::config
