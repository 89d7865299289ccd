# The hail AMI: Debian 12 with Nix and hail, configuring itself at first boot
# from instance metadata (README.md, "The AMI"). It installs the hail
# package (make deb) with apt-get, which fetches what it Depends on, then
# runs image/setup; the QEMU image test installs the same package and runs
# the same image/setup.
#
#   make deb && packer build -var region=eu-west-1 packer/

variable "region" {
  type        = string
  default     = "eu-west-1"
  description = "AWS region to build the AMI in."
}

variable "instance_type" {
  type        = string
  default     = "t3.small"
  description = "Instance type of the build instance."
}

variable "source_ami_owner" {
  type        = string
  default     = "136693071363"
  description = "Debian's AWS account, owner of the official Debian 12 AMIs."
}

variable "source_ami_name" {
  type        = string
  default     = "debian-12-amd64-*"
  description = "Name filter of the source AMI (the newest match is used)."
}

variable "ami_name_prefix" {
  type        = string
  default     = "hail-debian-12"
  description = "The AMI is named PREFIX-TIMESTAMP."
}

variable "build_dir" {
  type        = string
  default     = "build"
  description = "Where make deb put hail_VERSION_amd64.deb."
}

locals {
  timestamp = regex_replace(timestamp(), "[- TZ:]", "")
  # make deb's package, hail_VERSION_amd64.deb: hail's version from
  # agent/options.h (file() is relative to this folder), amd64 as the source
  # AMI (packer 1.6's locals cannot name each other)
  deb = "${var.build_dir}/hail_${regex_replace(file("../agent/options.h"), "(?s)^.*#define HAIL_VERSION \"([^\"]+)\".*$", "$1")}_amd64.deb"
}

source "amazon-ebs" "hail" {
  region        = var.region
  instance_type = var.instance_type
  ssh_username  = "admin"
  ami_name      = "${var.ami_name_prefix}-${local.timestamp}"

  source_ami_filter {
    filters = {
      name                = var.source_ami_name
      architecture        = "x86_64"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = [var.source_ami_owner]
    most_recent = true
  }

  # IMDS options (IMDSv2 required, tags in metadata) belong to the launch
  # template of the instances, not to the AMI: see README.md.
  tags = {
    Name        = "${var.ami_name_prefix}-${local.timestamp}"
    application = "hail"
  }
}

build {
  sources = ["source.amazon-ebs.hail"]

  provisioner "shell" {
    inline = ["mkdir -p /tmp/hail"]
  }

  provisioner "file" {
    sources     = [local.deb, "image/setup"]
    destination = "/tmp/hail/"
    # checked when uploaded, not by packer validate: make deb may come later
    generated = true
  }

  provisioner "shell" {
    execute_command = "sudo sh -eu '{{ .Path }}'"
    inline = [
      "export DEBIAN_FRONTEND=noninteractive",
      "apt-get update -q",
      # hail and what it Depends on: the libraries it links, and Nix without
      # its daemon (nix-bin; no recommends: single-user, as root). Its
      # postinst adds the user hail and enables hail-bootstrap.service
      # without starting it: it runs at the first boot of each instance.
      "cd /tmp/hail",
      "apt-get install -y -q --no-install-recommends ./hail_*.deb ca-certificates",
      # /etc/nix/nix.conf from the package's /usr/share/hail/nix.conf, and
      # a clean first boot for every instance launched from the AMI
      "sh /tmp/hail/setup",
      "cd / && rm -rf /tmp/hail",
    ]
  }
}
