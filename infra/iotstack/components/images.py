"""App images built by Pulumi from apps/<app>/Dockerfile."""

from __future__ import annotations

import os
from pathlib import Path

import pulumi
import pulumi_docker as docker

from iotstack.images import APPS_DIR, image_ref
from iotstack.services import Build
from iotstack.targets import Target


class AppImage(pulumi.ComponentResource):
    """Build one app image for ``platform``, tagged by its content, and make it usable on
    the target."""

    image_ref: pulumi.Output[str]
    resources: list[pulumi.Resource]

    def __init__(
        self,
        name: str,
        build: Build,
        target: Target,
        platform: str,
        opts: pulumi.ResourceOptions | None = None,
        apps_dir: Path = APPS_DIR,
    ) -> None:
        super().__init__("iotstack:index:AppImage", name, None, opts)
        context = apps_dir / build.app
        if not (context / "Dockerfile").is_file():
            # Fail at preview with the path, not later inside `docker build`.
            raise pulumi.RunError(
                f"{context / 'Dockerfile'} is missing: the {build.app} image "
                "is built from it (see docs/contracts.md)"
            )
        ref = image_ref(build.app, build.base_image, apps_dir)
        image = docker.Image(
            build.app,  # child names are unique per stack, not per component
            image_name=ref,
            # Relative to the program directory, so state and diffs carry no machine's
            # checkout path (CI previews and laptops then share the same inputs).
            build=docker.DockerBuildArgs(
                context=os.path.relpath(context),
                dockerfile=os.path.relpath(context / "Dockerfile"),
                args={"BASE_IMAGE": build.base_image},
                # The stack's imagePlatform: left unset, the provider builds for the host's
                # platform, so an arm64 laptop and an amd64 CI would preview different inputs.
                # (One platform is allowed, so the content tag need not include it.)
                platform=platform,
            ),
            skip_push=True,  # no registry: Docker runs it locally, kind gets it loaded
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.image_ref = image.image_name
        self.resources = [image, *target.publish_image(build.app, self.image_ref, image, self)]
        self.register_outputs({"image_ref": self.image_ref})
