// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Command gitlab-runner is the behindproxy lab's build of GitLab Runner: the
// runner module's own commands, executors, shells, cache adapters and secret
// resolvers, linked as the module's main package links them, except the
// `instance`, `docker-autoscaler` and `kubernetes` executors. Those import the
// fleeting, nesting and taskscaler modules, whose source the Go module proxy
// refuses here. See ../../README.md.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/sirupsen/logrus"
	"github.com/urfave/cli"

	"gitlab.com/gitlab-org/gitlab-runner/commands"
	"gitlab.com/gitlab-org/gitlab-runner/commands/fleeting"
	"gitlab.com/gitlab-org/gitlab-runner/commands/helpers"
	"gitlab.com/gitlab-org/gitlab-runner/commands/steps"
	"gitlab.com/gitlab-org/gitlab-runner/common"
	"gitlab.com/gitlab-org/gitlab-runner/executors"
	"gitlab.com/gitlab-org/gitlab-runner/executors/custom"
	"gitlab.com/gitlab-org/gitlab-runner/executors/docker"
	"gitlab.com/gitlab-org/gitlab-runner/executors/docker/machine"
	"gitlab.com/gitlab-org/gitlab-runner/executors/parallels"
	"gitlab.com/gitlab-org/gitlab-runner/executors/shell"
	"gitlab.com/gitlab-org/gitlab-runner/executors/ssh"
	"gitlab.com/gitlab-org/gitlab-runner/executors/virtualbox"
	cli_helpers "gitlab.com/gitlab-org/gitlab-runner/helpers/cli"
	"gitlab.com/gitlab-org/gitlab-runner/helpers/fips"
	"gitlab.com/gitlab-org/gitlab-runner/log"
	"gitlab.com/gitlab-org/gitlab-runner/network"
	"gitlab.com/gitlab-org/gitlab-runner/router"

	// Registered by import, as in the runner's own main package.
	_ "gitlab.com/gitlab-org/gitlab-runner/cache/azure"
	_ "gitlab.com/gitlab-org/gitlab-runner/cache/gcs"
	_ "gitlab.com/gitlab-org/gitlab-runner/cache/gcsv2"
	_ "gitlab.com/gitlab-org/gitlab-runner/cache/s3"
	_ "gitlab.com/gitlab-org/gitlab-runner/cache/s3v2"
	_ "gitlab.com/gitlab-org/gitlab-runner/helpers/secrets/resolvers/aws"
	_ "gitlab.com/gitlab-org/gitlab-runner/helpers/secrets/resolvers/azure_key_vault"
	_ "gitlab.com/gitlab-org/gitlab-runner/helpers/secrets/resolvers/gcp_secret_manager"
	_ "gitlab.com/gitlab-org/gitlab-runner/helpers/secrets/resolvers/gitlab_secrets_manager"
	_ "gitlab.com/gitlab-org/gitlab-runner/helpers/secrets/resolvers/vault"
	_ "gitlab.com/gitlab-org/gitlab-runner/shells"
)

func init() {
	memlimit.SetGoMemLimitWithEnv()
}

func main() {
	defer exitOnLoggedPanic()

	providers := executorProviders()
	for name, provider := range providers.All() {
		if err := common.ValidateExecutorProvider(provider); err != nil {
			panic(fmt.Sprintf("Executor %s cannot be registered: %v", name, err))
		}
	}

	fips.Check()
	client, shutdownClient, requestsCollector := gitLabClient(providers)
	defer shutdownClient()

	app := cli.NewApp()
	app.Name = filepath.Base(os.Args[0])
	app.Usage = "a GitLab Runner"
	app.Version = common.AppVersion.ShortLine()
	cli.VersionPrinter = common.AppVersion.Printer
	app.Authors = []cli.Author{{Name: "GitLab Inc.", Email: "support@gitlab.com"}}
	app.Commands = runnerCommands(client, requestsCollector, providers)
	app.CommandNotFound = func(_ *cli.Context, command string) {
		logrus.Fatalln("Command", command, "not found.")
	}

	cli_helpers.InitCli()
	cli_helpers.LogRuntimePlatform(app)
	cli_helpers.SetupCPUProfile(app)
	cli_helpers.FixHOME(app)
	cli_helpers.WarnOnBool(os.Args)
	log.ConfigureLogging(app)

	if err := app.Run(os.Args); err != nil {
		logrus.Fatal(err)
	}
}

// exitOnLoggedPanic exits 1 on the panic logrus raises for a panic-level log
// entry (it has been logged already) and re-raises any other panic.
func exitOnLoggedPanic() {
	if r := recover(); r != nil {
		if _, logged := r.(*logrus.Entry); logged {
			os.Exit(1)
		}
		panic(r)
	}
}

// executorProviders: every executor of the runner's main package but
// instance, docker-autoscaler and kubernetes.
func executorProviders() *executors.ProviderRegistry {
	runnerBinary, err := os.Executable()
	if err != nil {
		panic(err)
	}
	dockerProvider := docker.NewProvider()

	return executors.NewProviderRegistry(map[string]common.ExecutorProvider{
		"shell":          shell.NewProvider(runnerBinary),
		"custom":         custom.NewProvider("gitlab-runner"),
		"docker":         dockerProvider,
		"docker-windows": docker.NewWindowsProvider(),
		"docker+machine": machine.NewProvider(dockerProvider),
		"ssh":            ssh.NewProvider(),
		"parallels":      parallels.NewProvider(),
		"virtualbox":     virtualbox.NewProvider(),
	})
}

func gitLabClient(providers executors.Providers) (common.Network, func(), *network.APIRequestsCollector) {
	requestsCollector := network.NewAPIRequestsCollector()
	certificateDir := commands.GetDefaultCertificateDirectory()

	client := router.NewClient(
		network.NewGitLabClient(
			network.WithAPIRequestsCollector(requestsCollector),
			network.WithCertificateDirectory(certificateDir),
			network.WithExecutorProviderFunc(providers.GetByName),
		),
		certificateDir,
		common.AppVersion.UserAgent(),
	)
	return client, client.Shutdown, requestsCollector
}

func runnerCommands(client common.Network, requestsCollector *network.APIRequestsCollector, providers executors.Providers) []cli.Command {
	return append([]cli.Command{
		commands.NewListCommand(),
		commands.NewLintCommand(),
		commands.NewRegisterCommand(client, providers),
		commands.NewResetTokenCommand(client),
		commands.NewRunCommand(client, requestsCollector, providers),
		commands.NewRunSingleCommand(client, providers),
		commands.NewRunnerWrapperCommand(),
		commands.NewUnregisterCommand(client),
		commands.NewVerifyCommand(client),
		fleeting.NewCommand(),
		helpers.NewArtifactsDownloaderCommand(),
		helpers.NewArtifactsUploaderCommand(),
		helpers.NewCacheArchiverCommand(),
		helpers.NewCacheExtractorCommand(),
		helpers.NewCacheInitCommand(),
		helpers.NewHealthCheckCommand(),
		helpers.NewProbeURLCommand(),
		helpers.NewVerifyVersionCommand(),
		helpers.NewProxyExecCommand(),
		helpers.NewReadLogsCommand(),
		steps.NewCommand(),
	}, commands.NewServiceCommands()...)
}
