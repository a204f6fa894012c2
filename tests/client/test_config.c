/* SPDX-License-Identifier: MIT */
/*
 * The config file parser: a good file, and every error it can report,
 * each with the line number it must name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define KEY_B64 "6EtabScXwQA6E7QxVwNT26ypFGzxUMX4V1aA/rpSAno="

static int parse(struct config *cfg, const char *text, struct config_error *err)
{
	memset(cfg, 0, sizeof(*cfg));
	return config_parse(cfg, text, strlen(text), err);
}

static void test_good_file(void **state)
{
	static const char text[] =
		"# wgpunch settings\n"
		"\n"
		"server = 198.18.0.1:5000\n"
		"  server-key\t=\t" KEY_B64 "  \n"
		"timeout=7\n"
		"   # indented comment\n"
		"keepalive = 15\n"
		"probe-port = 5001\n"
		"log-level = debug";		/* no final newline */
	struct config_error err;
	struct config cfg;
	uint8_t key[WGP_KEY_LEN];

	(void)state;
	assert_int_equal(parse(&cfg, text, &err), 0);
	assert_string_equal(cfg.servers[0].host, "198.18.0.1");
	assert_int_equal(cfg.servers[0].port, 5000);
	assert_int_equal(wgp_key_from_base64(key, KEY_B64), 0);
	assert_memory_equal(cfg.server_keys[0], key, WGP_KEY_LEN);
	assert_int_equal(cfg.timeout, 7);
	assert_int_equal(cfg.keepalive, 15);
	assert_int_equal(cfg.probe_ports[0], 5001);
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(cfg.set, CONFIG_SERVER | CONFIG_SERVER_KEY | CONFIG_TIMEOUT |
			 CONFIG_KEEPALIVE | CONFIG_PROBE_PORT | CONFIG_LOG_LEVEL);
}

static void test_empty(void **state)
{
	struct config_error err;
	struct config cfg;

	(void)state;
	assert_int_equal(parse(&cfg, "", &err), 0);
	assert_int_equal(parse(&cfg, "\n\n# nothing\n", &err), 0);
	assert_int_equal(cfg.set, 0);
}

static void expect_error(const char *text, unsigned int line, const char *msg)
{
	struct config_error err;
	struct config cfg;

	assert_int_equal(parse(&cfg, text, &err), -EINVAL);
	if (err.line != line || !strstr(err.msg, msg))
		fail_msg("for \"%s\": got line %u \"%s\", want line %u \"%s\"",
			 text, err.line, err.msg, line, msg);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("timeout = 5\nbogus = 1\n", 2, "unknown key \"bogus\"");
	expect_error("\n\nserver\n", 3, "expected \"key = value\"");
	expect_error("= 5\n", 1, "missing key");
	expect_error("timeout =\n", 1, "missing value for \"timeout\"");
	expect_error("timeout = 5\n\ntimeout = 6\n", 3, "given twice (first on line 1)");
	expect_error("timeout = 0\n", 1, "timeout must be");
	expect_error("timeout = 86401\n", 1, "timeout must be");
	expect_error("timeout = 5s\n", 1, "timeout must be");
	expect_error("timeout = -5\n", 1, "timeout must be");
	expect_error("timeout = 99999999999\n", 1, "timeout must be");
	expect_error("keepalive = 0\n", 1, "keepalive must be");
	expect_error("keepalive = 65536\n", 1, "keepalive must be");
	expect_error("probe-port = 0\n", 1, "probe-port must be");
	expect_error("log-level = loud\n", 1, "log-level must be");
	expect_error("server-key = abc\n", 1, "server-key must be");
	expect_error("server-key = " KEY_B64 "x\n", 1, "server-key must be");
	expect_error("server = \n", 1, "missing value");
	expect_error("server = host name\n", 1, "server must be");
	expect_error("server = 198.18.0.1:0\n", 1, "server must be");
	expect_error("server = 198.18.0.1:65536\n", 1, "server must be");
	expect_error("server = [2001:db8::1\n", 1, "server must be");
	expect_error("server = [2001:db8::1]x\n", 1, "server must be");
	expect_error("server = a/b\n", 1, "server must be");
	expect_error("timeout = 5 # five\n", 1, "timeout must be");
	expect_error("\n\n\n\ntime\rout = 5\r\n", 5, "control character 0x0d at column 5");
	expect_error("timeout = 5\r\r\n", 1, "control character 0x0d at column 12");
	expect_error("\xef\xbb\xbf\xef\xbb\xbftimeout = 5\n", 1, "unknown key");
	expect_error("server-key = " KEY_B64 "\n#\nserver-key-file = /k\n", 3,
		     "both \"server-key\" and \"server-key-file\" given (first on line 1)");
	expect_error("server-key-file = /k\nserver-key = " KEY_B64 "\n", 2,
		     "both \"server-key\" and \"server-key-file\" given (first on line 1)");
	expect_error("server-key-file = /k\nserver-key-file = /j\nserver-key = "
		     KEY_B64 "\n", 3, "both \"server-key\" and \"server-key-file\" "
		     "given (first on line 1)");
	expect_error("# ok\nlog-level = info\x1b\n", 2, "control character 0x1b");
	expect_error("portmap = pcp,\n", 1, "portmap must be");
	expect_error("portmap = pcp,none\n", 1, "portmap must be");
	expect_error("portmap = none,pcp\n", 1, "portmap must be");
	expect_error("portmap = PCP\n", 1, "portmap must be");
	expect_error("portmap = upnp,,pcp\n", 1, "portmap must be");
}

/* server, server-key, server-key-file and probe-port repeat, one per
 * server; keys and probe ports pair with the servers in order, or one
 * serves all; other counts are an error naming them. */
static void test_servers(void **state)
{
	static const char two[] =
		"server = 198.18.0.1\n"
		"server = [2001:db8::2]:7000\n"
		"server-key-file = /a\n"
		"server-key-file = /b\n"
		"probe-port = 5001\n";
	struct config_error err;
	struct config cfg;
	char why[200];

	(void)state;
	assert_int_equal(parse(&cfg, two, &err), 0);
	assert_int_equal(cfg.n_servers, 2);
	assert_string_equal(cfg.servers[0].host, "198.18.0.1");
	assert_int_equal(cfg.servers[0].port, 0);
	assert_string_equal(cfg.servers[1].host, "2001:db8::2");
	assert_int_equal(cfg.servers[1].port, 7000);
	assert_int_equal(cfg.n_server_key_files, 2);
	assert_string_equal(cfg.server_key_files[1], "/b");
	assert_int_equal(cfg.n_probe_ports, 1);
	assert_int_equal(cfg.set, CONFIG_SERVER | CONFIG_SERVER_KEY_FILE |
			 CONFIG_PROBE_PORT);

	/* One key for three servers. */
	assert_int_equal(parse(&cfg, "server = a\nserver = b\nserver = c\n"
			       "server-key = " KEY_B64 "\n", &err), 0);
	assert_int_equal(cfg.n_servers, 3);
	assert_int_equal(cfg.n_server_keys, 1);

	expect_error("server = a\nserver = b\nserver-key = " KEY_B64 "\n"
		     "server-key = " KEY_B64 "\nserver-key = " KEY_B64 "\n", 0,
		     "2 servers but 3 server keys: give one server key for every "
		     "server, or one per server in the same order");
	expect_error("server = a\nserver = b\nserver = c\nprobe-port = 1\n"
		     "probe-port = 2\n", 0, "3 servers but 2 probe ports");
	expect_error("server = a\nserver = b\nserver = c\nserver = d\n"
		     "server = e\nserver = f\nserver = g\nserver = h\n"
		     "server = i\n", 9, "server given more than 8 times");

	/* The check alone, as wgpunch runs it after the options. */
	memset(&cfg, 0, sizeof(cfg));
	cfg.n_servers = 1;
	cfg.n_server_keys = 2;
	assert_int_equal(config_check_servers(&cfg, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "1 server but 2 server keys"));
	cfg.n_servers = 2;
	assert_int_equal(config_check_servers(&cfg, why, sizeof(why)), 0);
	cfg.n_probe_ports = 3;
	assert_int_equal(config_check_servers(&cfg, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "2 servers but 3 probe ports"));
}

static void test_portmap(void **state)
{
	static const struct {
		const char *value;
		unsigned int mask;
	} good[] = {
		{ "all", CONFIG_PM_ALL }, { "none", 0 }, { "pcp", CONFIG_PM_PCP },
		{ "natpmp", CONFIG_PM_NATPMP }, { "upnp", CONFIG_PM_UPNP },
		{ "upnp,pcp", CONFIG_PM_UPNP | CONFIG_PM_PCP },
		{ "pcp,natpmp,upnp", CONFIG_PM_ALL },
	};
	struct config cfg;
	char why[160];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&cfg, 0, sizeof(cfg));
		assert_int_equal(config_set(&cfg, "portmap", good[i].value, why,
					    sizeof(why)), 0);
		assert_int_equal(cfg.portmap, good[i].mask);
		assert_true(cfg.set & CONFIG_PORTMAP);
	}
}

/* Files from Windows editors: CRLF line ends and a byte order mark. */
static void test_crlf_and_bom(void **state)
{
	static const char text[] =
		"\xef\xbb\xbf# saved by Notepad\r\n"
		"\r\n"
		"server = 198.18.0.1:5000\r\n"
		"server-key-file = /etc/wgpunch/server.pub\r\n"
		"timeout = 7\r";		/* a final CR without LF, too */
	struct config_error err;
	struct config cfg;

	(void)state;
	assert_int_equal(parse(&cfg, text, &err), 0);
	assert_string_equal(cfg.servers[0].host, "198.18.0.1");
	assert_int_equal(cfg.servers[0].port, 5000);
	assert_string_equal(cfg.server_key_files[0], "/etc/wgpunch/server.pub");
	assert_int_equal(cfg.timeout, 7);
	assert_int_equal(cfg.set, CONFIG_SERVER | CONFIG_SERVER_KEY_FILE | CONFIG_TIMEOUT);
	/* A line of exactly the limit, plus its CR, is fine. */
	{
		char line[CONFIG_MAX_LINE + 3];

		memset(line, '#', CONFIG_MAX_LINE);
		memcpy(line + CONFIG_MAX_LINE, "\r\n", 3);
		assert_int_equal(parse(&cfg, line, &err), 0);
	}
}

static void test_nul_and_long(void **state)
{
	static const char nul[] = "timeout = 5\nkeep\0alive = 1\n";
	struct config_error err;
	struct config cfg = { 0 };
	char *text = malloc(CONFIG_MAX_SIZE + 2);

	(void)state;
	assert_int_equal(config_parse(&cfg, nul, sizeof(nul) - 1, &err), -EINVAL);
	assert_int_equal(err.line, 2);
	assert_non_null(strstr(err.msg, "control character 0x00"));

	assert_non_null(text);
	memset(text, '#', CONFIG_MAX_LINE + 1);
	text[CONFIG_MAX_LINE + 1] = '\0';
	assert_int_equal(parse(&cfg, "\n", &err), 0);
	assert_int_equal(config_parse(&cfg, text, CONFIG_MAX_LINE + 1, &err), -EINVAL);
	assert_int_equal(err.line, 1);
	assert_non_null(strstr(err.msg, "longer than"));
	/* A line of exactly the limit is fine. */
	assert_int_equal(config_parse(&cfg, text, CONFIG_MAX_LINE, &err), 0);

	memset(text, '\n', CONFIG_MAX_SIZE + 1);
	assert_int_equal(config_parse(&cfg, text, CONFIG_MAX_SIZE + 1, &err), -EINVAL);
	assert_int_equal(err.line, 0);
	assert_int_equal(config_parse(&cfg, text, CONFIG_MAX_SIZE, &err), 0);
	free(text);
}

static void test_split_server(void **state)
{
	char host[CONFIG_HOST_MAX];
	uint16_t port;

	(void)state;
	assert_int_equal(config_split_server("198.18.0.1", host, &port), 0);
	assert_string_equal(host, "198.18.0.1");
	assert_int_equal(port, 0);
	assert_int_equal(config_split_server("rv.example.test:7", host, &port), 0);
	assert_string_equal(host, "rv.example.test");
	assert_int_equal(port, 7);
	assert_int_equal(config_split_server("[2001:db8::1]:49918", host, &port), 0);
	assert_string_equal(host, "2001:db8::1");
	assert_int_equal(port, 49918);
	assert_int_equal(config_split_server("[2001:db8::1]", host, &port), 0);
	assert_int_equal(port, 0);
	assert_int_equal(config_split_server("2001:db8::1", host, &port), 0);
	assert_string_equal(host, "2001:db8::1");
	assert_int_equal(port, 0);
	assert_int_equal(config_split_server("", host, &port), -EINVAL);
	assert_int_equal(config_split_server(":5", host, &port), -EINVAL);
	assert_int_equal(config_split_server("[]:5", host, &port), -EINVAL);
	assert_int_equal(config_split_server("h:", host, &port), -EINVAL);
	assert_int_equal(config_split_server("a%b", host, &port), -EINVAL);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/wgpunch-config-XXXXXX";
	struct config_error err;
	struct config cfg = { 0 };
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "timeout = 9\nnope = 1\n", 21), 21);
	close(fd);
	assert_int_equal(config_load(&cfg, path, &err), -EINVAL);
	assert_int_equal(err.line, 2);
	assert_int_equal(cfg.timeout, 9);
	unlink(path);
	assert_int_equal(config_load(&cfg, path, &err), -ENOENT);
	assert_int_equal(err.line, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_servers),
		cmocka_unit_test(test_portmap),
		cmocka_unit_test(test_crlf_and_bom),
		cmocka_unit_test(test_nul_and_long),
		cmocka_unit_test(test_split_server),
		cmocka_unit_test(test_load_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
