# The hail AMI: Debian 12 with Nix and hail, configuring itself at first boot
# from instance metadata (README.md, "The AMI"). The same image/install puts
# the same files into the QEMU test image.
#
#   make && packer build -var region=eu-west-1 packer/

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
  description = "Where make put hail and hail-bootstrap."
}

locals {
  timestamp = regex_replace(timestamp(), "[- TZ:]", "")
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
    inline = ["mkdir -p /tmp/hail/build /tmp/hail/image"]
  }

  provisioner "file" {
    sources     = ["${var.build_dir}/hail", "${var.build_dir}/hail-bootstrap"]
    destination = "/tmp/hail/build/"
  }

  provisioner "file" {
    source      = "image/"
    destination = "/tmp/hail/image"
  }

  provisioner "shell" {
    execute_command = "sudo sh -eu '{{ .Path }}'"
    inline = [
      "export DEBIAN_FRONTEND=noninteractive",
      "apt-get update -q",
      # the libraries hail links, and Nix without its daemon (single-user, as root)
      "apt-get install -y -q --no-install-recommends nix-bin libcurl4 libcjson1 libexpat1 libsystemd0 libseccomp2 zlib1g ca-certificates",
      "BUILD=/tmp/hail/build sh /tmp/hail/image/install",
      "rm -rf /tmp/hail",
      # a clean first boot for every instance launched from the AMI
      "rm -rf /var/lib/hail/* /etc/hail/* /etc/nix/netrc /etc/nix/hail.conf",
    ]
  }
}
